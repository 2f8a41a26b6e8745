// Filled in by the steer tests.
#include <gtest/gtest.h>
