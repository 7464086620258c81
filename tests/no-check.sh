#!/bin/sh
# Stands in for the test runner when configure did not find Check: fail loudly
# rather than "pass" with zero tests.
echo "make check needs Check (Debian: apt-get install check), then re-run configure" >&2
exit 1
