# Royalty and gender: the analogy that made word vectors famous.
king - man + woman
# Other family and royal relations:
:k 5
man : king :: woman : ?
prince - boy + girl
uncle - man + woman
# A vector on its own: the neighbours of a word.
queen
