add_library(tjnode_admin STATIC ${CMAKE_CURRENT_SOURCE_DIR}/admin/admin-proto.c ${CMAKE_CURRENT_SOURCE_DIR}/admin/admin.c)
target_link_libraries(tjnode_admin PUBLIC tjcommon Threads::Threads)
