# Capitals and countries: the classic analogy, three ways to write it.
# paris is to france as rome is to italy:
paris - france + italy
# The same in analogy notation:
france : paris :: japan : ?
# Capitals of other countries, top 3 only:
:k 3
germany : berlin :: spain : ?
russia : moscow :: egypt : ?
# And back: which country has this capital?
berlin - germany + canada
