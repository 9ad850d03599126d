# tjstored config parser fuzz target (tests/fuzz/fuzz-config.c).
tj_fuzz_target(config LIBS tjnode_config tjcommon)
