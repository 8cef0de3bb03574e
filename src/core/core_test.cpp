#include <gtest/gtest.h>

#include "sublens/core/error.hpp"
#include "sublens/core/memory.hpp"
#include "sublens/core/threads.hpp"
#include "sublens/core/types.hpp"

namespace sublens {
namespace {

TEST(Types, PaperViewIsTheTransposeWithoutCopy) {
  RowMatrix activations(3, 2);
  activations << 1, 2, 3, 4, 5, 6;

  const auto x = paper_view(activations);

  ASSERT_EQ(x.rows(), 2);
  ASSERT_EQ(x.cols(), 3);
  EXPECT_EQ(x(1, 2), 6);  // neuron 1 of input 2
  EXPECT_EQ(x.data(), activations.data());
}

TEST(Error, InputErrorNamesFileFieldAndConstraint) {
  const InputError error("a.npy", "header 'shape'", "must be a tuple of ints");

  EXPECT_STREQ(error.what(), "a.npy: header 'shape': must be a tuple of ints");
  EXPECT_EQ(error.file(), "a.npy");
}

TEST(Memory, RefusesImpossibleAllocationWithTheByteCount) {
  const std::uint64_t huge = std::uint64_t{1} << 62;

  try {
    require_memory(huge, "dense C");
    FAIL() << "expected invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find(std::to_string(huge)), std::string::npos);
  }
  EXPECT_NO_THROW(require_memory(1024, "tiny"));
  EXPECT_GT(peak_resident_bytes(), 0U);
}

TEST(Threads, ZeroMeansAllCores) {
  EXPECT_GE(resolve_threads(0), 1);
  EXPECT_EQ(resolve_threads(3), 3);
}

}  // namespace
}  // namespace sublens
