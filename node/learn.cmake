# tjnode_learn: spam learning from the store (node/learn/): the background
# learner that IMAP Junk moves feed.  Links the store and the Bayes module.
add_library(tjnode_learn STATIC
  ${CMAKE_CURRENT_LIST_DIR}/learn/learner.c)
target_link_libraries(tjnode_learn PUBLIC tjnode_bayes tjstore tjcommon Threads::Threads)
