# SMTP/LMTP engine fuzz target (tests/fuzz/fuzz-smtp.c).
tj_fuzz_target(smtp LIBS tjproto_smtp tjcommon)
