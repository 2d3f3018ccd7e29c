// watch: events from the store's log, replayed from a sequence number, then followed.
#include <thread>

#include "runtime/local_runtime.hpp"

namespace berth {

namespace {

using namespace std::chrono_literals;

// How often a following reader looks for new events.
constexpr auto poll_period = 20ms;

class StoreEventReader final : public EventReader {
 public:
  StoreEventReader(std::unique_ptr<state::Store> store, std::uint64_t since)
      : store_(std::move(store)), last_(since) {}

  Result<std::optional<Event>> next(std::chrono::milliseconds timeout,
                                    std::stop_token stop) override {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (pending_index_ < pending_.size()) {
        Event e = std::move(pending_[pending_index_++]);
        last_ = e.seq;
        return e;
      }
      auto batch = store_->events_after(last_, 500);
      if (!batch) return std::unexpected(batch.error());
      pending_ = std::move(*batch);
      pending_index_ = 0;
      if (!pending_.empty()) continue;
      if (stop.stop_requested()) return fail(ErrorCode::unavailable, "watch cancelled");
      auto left = deadline - std::chrono::steady_clock::now();
      if (left <= 0ms) return fail(ErrorCode::timeout, "no event within the timeout");
      std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(left, poll_period));
    }
  }

 private:
  std::unique_ptr<state::Store> store_;  // its own connection: readers don't contend
  std::uint64_t last_;
  std::vector<Event> pending_;
  std::size_t pending_index_ = 0;
};

}  // namespace

Result<std::unique_ptr<EventReader>> LocalRuntime::watch(std::uint64_t since_seq) {
  auto store = state::Store::open(layout_.root);
  if (!store) return std::unexpected(store.error());
  return std::unique_ptr<EventReader>(new StoreEventReader(std::move(*store), since_seq));
}

}  // namespace berth
