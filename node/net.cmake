# tjnode_net: tjstored's network layer (node/net/, docs/net.md): listeners,
# connections, OpenSSL 3 TLS through memory BIOs, STARTTLS, worker-pool
# dispatch, timers, wakeups, signals, privilege drop.
# Debian packages: libuv1-dev (libuv), libssl-dev (libssl, libcrypto).
if(NOT TARGET PkgConfig::UV)
  pkg_check_modules(UV REQUIRED IMPORTED_TARGET libuv)
endif()
if(NOT TARGET PkgConfig::SSL)
  pkg_check_modules(SSL REQUIRED IMPORTED_TARGET libssl)
endif()
add_library(tjnode_net STATIC
  ${CMAKE_CURRENT_LIST_DIR}/net/net.c
  ${CMAKE_CURRENT_LIST_DIR}/net/tls.c
  ${CMAKE_CURRENT_LIST_DIR}/net/proc.c)
target_link_libraries(tjnode_net PUBLIC tjcommon PkgConfig::UV PkgConfig::SSL
                      PkgConfig::OPENSSL Threads::Threads)
