# tjnode_bayes: the Bayesian spam classifier (node/scan/bayes.c) and its
# tokenizer (node/scan/bayes-tok.c): token counts in LMDB, XXH3 token hashes,
# MIME decoding through protocol/mime.  docs/bayes.md.
add_library(tjnode_bayes STATIC
  ${CMAKE_CURRENT_LIST_DIR}/scan/bayes-tok.c
  ${CMAKE_CURRENT_LIST_DIR}/scan/bayes.c)
target_link_libraries(tjnode_bayes PUBLIC tjproto_mime tjcommon PkgConfig::LMDB PkgConfig::XXHASH m Threads::Threads)
