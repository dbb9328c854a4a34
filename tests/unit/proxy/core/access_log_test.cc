#define BOOST_TEST_MODULE access_log
#include "proxy/core/access_log.h"

#include <unistd.h>
#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

using pforte::core::AccessLog;
using pforte::core::append_json_string;

BOOST_AUTO_TEST_CASE(json_strings_escape_quotes_controls_and_non_ascii) {
  std::string out;
  append_json_string(out, "a\"b\\c\nd\x01\xc3\xa4");
  BOOST_TEST(out == "\"a\\\"b\\\\c\\nd\\u0001\\u00c3\\u00a4\"");
}

BOOST_AUTO_TEST_CASE(lines_reach_the_file_when_the_log_closes) {
  char path[] = "/tmp/pforte-access-XXXXXX";
  int fd = mkstemp(path);
  BOOST_REQUIRE(fd >= 0);
  ::close(fd);
  {
    AccessLog log(path);
    BOOST_REQUIRE(log.open());
    for (int i = 0; i < 1000; ++i) log.append("{\"n\":" + std::to_string(i) + "}");
    log.close();
  }
  std::ifstream in(path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    BOOST_TEST(line == "{\"n\":" + std::to_string(n) + "}");
    ++n;
  }
  BOOST_TEST(n == 1000);
  std::remove(path);
}

BOOST_AUTO_TEST_CASE(off_discards_everything) {
  AccessLog log("off");
  BOOST_TEST(!log.enabled());
  BOOST_TEST(log.open());
  log.append("x");
  log.close();
}
