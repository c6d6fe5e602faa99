// Published<T>: Get and Peek see each Publish at once, on every thread; a
// snapshot taken with Get outlives a later Publish; several Published of one
// T share the per-thread cache without mixing their values.
#include "common/published.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace crossbridge {
namespace {

TEST(PublishedTest, GetAndPeekSeeTheLatestPublish) {
  Published<int> value(std::make_shared<const int>(1));
  EXPECT_EQ(*value.Get(), 1);
  EXPECT_EQ(value.Peek(), 1);
  std::shared_ptr<const int> held = value.Get();
  value.Publish(std::make_shared<const int>(2));
  EXPECT_EQ(value.Peek(), 2);
  EXPECT_EQ(*value.Get(), 2);
  EXPECT_EQ(*held, 1);  // a Get snapshot survives the Publish
}

TEST(PublishedTest, TwoPublishedOfOneTypeNeverMix) {
  Published<int> a(std::make_shared<const int>(10));
  Published<int> b(std::make_shared<const int>(20));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(a.Peek(), 10 + i);
    EXPECT_EQ(b.Peek(), 20 + i);
    EXPECT_EQ(*a.Get(), 10 + i);
    a.Publish(std::make_shared<const int>(11 + i));
    b.Publish(std::make_shared<const int>(21 + i));
  }
}

// Readers on other threads see a Publish on their next read (bounded: the
// writer publishes 2000 values, each reader stops once it saw the last).
TEST(PublishedTest, OtherThreadsSeeEveryPublishEventually) {
  constexpr int kLast = 2000;
  Published<int> value(std::make_shared<const int>(0));
  std::atomic<int> done{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      int previous = 0;
      while (true) {
        const int now = value.Peek();
        ASSERT_GE(now, previous);  // never goes back
        previous = now;
        if (now == kLast) break;
      }
      done.fetch_add(1);
    });
  }
  for (int i = 1; i <= kLast; ++i) value.Publish(std::make_shared<const int>(i));
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(done.load(), 2);
}

}  // namespace
}  // namespace crossbridge
