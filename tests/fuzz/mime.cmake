# protocol/mime fuzz target (seeds: tests/fuzz/seeds/mime/)
tj_fuzz_target(mime LIBS tjproto_mime tjcommon)
