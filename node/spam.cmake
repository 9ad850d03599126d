# tjnode_spam: spam scoring (the SpamAssassin role, docs/spam.md).
# node/scan/sarules.c parses SpamAssassin-style rule files and runs them with
# PCRE2 (JIT); node/scan/spam.c adds GTUBE and the Bayes pseudo-rules and
# writes the X-Spam-* headers.  Debian package: libpcre2-dev (libpcre2-8).
if(NOT TARGET PkgConfig::PCRE2)
  pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
endif()
add_library(tjnode_spam STATIC
  ${CMAKE_CURRENT_LIST_DIR}/scan/sarules.c
  ${CMAKE_CURRENT_LIST_DIR}/scan/spam.c)
target_link_libraries(tjnode_spam PUBLIC tjproto_mime tjcommon PkgConfig::PCRE2 Threads::Threads m)
