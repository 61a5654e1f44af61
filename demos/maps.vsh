# Word maps: points projected to two dimensions by PCA (see README, "Pictures").
# Words you type are inputs; an expression is a point of its own; k=N adds neighbours.
plot(king, queen, man, woman, prince, princess)
# The analogy's query point, its words, and its 8 nearest neighbours.
plot(king - man + woman, k=8)
# Offsets as arrows: the country → capital picture from the word2vec papers.
arrows(france, paris, italy, rome, japan, tokyo, germany, berlin)
# Named results are points too.
let royal = king - man
plot(royal + woman, k=4)
# Neighbours from the 5,000 most frequent words only.
:restrict 5000
plot(tsunami, k=6)
:restrict off
