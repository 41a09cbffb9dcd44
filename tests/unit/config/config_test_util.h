// Helpers for the config tests: fixture paths and the message of the xai::Error a call throws.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "framework/common/error.h"
#include "framework/config/config.h"

namespace xai::config_test {

inline std::string fixture(const std::string& rel) {
  return std::string(XAI_SOURCE_DIR) + "/tests/fixtures/config/" + rel;
}

// The message of the xai::Error that fn throws; a test failure (and "") when it throws nothing.
// Every message must be one line.
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "not one line: " << msg;
    return msg;
  }
  ADD_FAILURE() << "expected an xai::Error";
  return "";
}

inline ::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

inline Config parse(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  return Config::parse(yaml, "exp.yaml", overrides);
}

}  // namespace xai::config_test
