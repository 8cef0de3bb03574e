// TaskQueue and GlobalCounter (tasks.hpp): a shared counter with several processes, a local one
// in one process.
#include <stdexcept>
#include <string>

#include "internal.hpp"
#include "sublens/dist/dist.hpp"

namespace sublens::dist {

TaskQueue::TaskQueue(std::int64_t count) : count_(count) {
  if (count < 0) {
    throw std::invalid_argument("dist: a task queue needs count >= 0 (got " +
                                std::to_string(count) + ")");
  }
  if (distributed()) counter_ = std::make_unique<SharedCounter>();
}

TaskQueue::~TaskQueue() = default;

std::int64_t TaskQueue::next() {
  if (done_) return -1;
  std::int64_t task = 0;
  if (counter_) {
    detail::mark_collectives_started();  // from here on the processes' work differs
    task = counter_->fetch_add(1);
  } else {
    task = local_next_++;
  }
  if (task >= count_) {
    done_ = true;
    return -1;
  }
  taken_.push_back(task);
  return task;
}

void TaskQueue::stop() {
  if (done_) return;
  done_ = true;
  // Past the end for everyone: every later fetch-and-add returns >= count.
  if (counter_) counter_->fetch_add(count_ + 1);
}

GlobalCounter::GlobalCounter() {
  if (distributed()) counter_ = std::make_unique<SharedCounter>();
}

GlobalCounter::~GlobalCounter() = default;

std::int64_t GlobalCounter::add(std::int64_t amount) {
  if (!counter_) return local_ += amount;
  return counter_->fetch_add(amount) + amount;
}

std::int64_t GlobalCounter::total() { return add(0); }

}  // namespace sublens::dist
