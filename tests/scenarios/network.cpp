// Scenario tests: see tests/scenarios/causes.cpp for the pattern.
#include "support.hpp"

#include <catch2/catch.hpp>
