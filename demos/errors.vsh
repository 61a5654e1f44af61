# The errors a user can hit, and what vecsh says about them. Every line here fails.
# A typo in a word:
king - man + womn
# Capitals: the vocabulary is lower-case.
Paris
# A hyphen without spaces makes one (unknown) word:
king-man
# Incomplete expressions and stray brackets:
king +
king )
# Two vectors cannot be multiplied (their similarity is sim):
king * queen
# Division by zero:
king / 0
# Unknown functions and commands:
smi(cat, dog)
:incude on
# An open parenthesis continues on the next line; at the end of the script it is unclosed:
(king - man
