# tjnode_pipeline: the scanning pipeline (node/scan/pipeline.c): ClamAV,
# spam scoring, quarantine, and the learner, behind the SMTP scan hook and
# the IMAP learning hook.  docs/scanning.md.
add_library(tjnode_pipeline STATIC ${CMAKE_CURRENT_LIST_DIR}/scan/pipeline.c)
target_link_libraries(tjnode_pipeline PUBLIC tjnode_scan tjnode_spam tjnode_bayes tjnode_learn tjstore tjcommon
  Threads::Threads)
