# node/auth: SASL PLAIN decoder, passwd line parser and file rewrite.
tj_fuzz_target(auth LIBS tjnode_auth tjcommon)
