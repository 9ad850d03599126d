tj_fuzz_target(record LIBS tjstore)
tj_fuzz_target(op LIBS tjstore)
