# Comparatives and superlatives: syntactic analogies.
:k 3
good : better :: bad : ?
big : bigger :: small : ?
fast : fastest :: slow : ?
# 3CosMul (Levy & Goldberg) often does better on these; compare:
cosmul(bigger - big + small)
:method mul
fastest - fast + slow
