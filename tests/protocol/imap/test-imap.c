/*
 * test-imap.c - the test-imap binary: all protocol/imap unit tests.
 *
 * The harness keeps its registry per translation unit, so the case files
 * are included here rather than linked separately.
 */
#include "tests/harness.h"

#include "test-imap-parser.c"
#include "test-imap-args.c"
#include "test-imap-text.c"

int main(int argc, char **argv)
{
	return tj_test_main(argc, argv);
}
