# node/scan Bayes tokenizer fuzz target (seeds: tests/fuzz/seeds/bayes-tok/)
tj_fuzz_target(bayes-tok LIBS tjnode_bayes tjcommon)
