// The one translation unit that defines main() for every Boost.Test suite.
#define BOOST_TEST_MODULE kube_chorus_router
#include <boost/test/unit_test.hpp>
