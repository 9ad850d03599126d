# Spam rules fuzz target (tests/fuzz/fuzz-sarules.c): the SpamAssassin-style
# rule parser, then the matcher and the X-Spam-* headers on one message.
tj_fuzz_target(sarules LIBS tjnode_spam tjproto_mime tjcommon)
