# Similarity and the odd one out.
# Cosine similarity of two words (or of any two expressions):
sim(cat, dog)
sim(cat, car)
sim(king - man + woman, queen)
# Which word does not belong? (gensim's doesnt_match)
odd(breakfast, cereal, dinner, lunch)
odd(paris, london, berlin, banana)
# Scalars are ordinary numbers:
2 * sim(cat, dog) - 1
