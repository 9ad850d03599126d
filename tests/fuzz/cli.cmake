tj_fuzz_target(mbox LIBS tjcli tjcommon)
