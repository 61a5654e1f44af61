# Named results: bind an expression once, use it on later lines.
let royal = king - man
royal + woman
# `name = expr` works too; names substitute exactly, so this equals king - man + woman:
female = woman
:k 3
royal + female
# A weighted mean of two directions:
let capital = paris - france
mean(capital + italy, capital + spain)
:vars
# The parse, fully parenthesised:
:ast royal + 0.5 * female
