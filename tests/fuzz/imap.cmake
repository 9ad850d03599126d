# protocol/imap: command parser, argument parsers, mUTF-7, writers.
tj_fuzz_target(imap LIBS tjproto_imap tjcommon)
