tj_fuzz_target(admin LIBS tjnode_admin tjcommon)
