# tjnode_scan: the scanning pipeline's ClamAV step (node/scan/clamav.c, through
# libclamav: shared refcounted engine, background reload) and the quarantine
# (node/scan/quarantine.c).  docs/scanning.md.
# Debian package: libclamav-dev (pkg-config libclamav).
if(NOT TARGET PkgConfig::CLAMAV)
  pkg_check_modules(CLAMAV REQUIRED IMPORTED_TARGET libclamav)
endif()
add_library(tjnode_scan STATIC
  ${CMAKE_CURRENT_LIST_DIR}/scan/clamav.c
  ${CMAKE_CURRENT_LIST_DIR}/scan/quarantine.c)
target_link_libraries(tjnode_scan PUBLIC tjcommon PkgConfig::CLAMAV Threads::Threads)
