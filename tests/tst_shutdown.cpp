// SPDX-License-Identifier: MIT
// QCoreApplication quits, and is destroyed, while runs are in flight: pending timeouts, tasks
// that never answer, runs queued in a limiter, runs of both paths. The process must neither
// crash nor hang, the timer thread must stop, and no future may be left unfinished: once the
// application is gone every run still waiting for a deadline ends as timed out.
// A plain program (not Qt Test: QTest owns the application's lifetime); exit code 0 = pass.

#include <kompoz/kompoz.h>

#include <QCoreApplication>
#include <QPromise>
#include <QTimer>

#include <cstdio>
#include <memory>
#include <vector>

using namespace std::chrono_literals;

#define CHECK(cond) \
    do { \
        if (!(cond)) { \
            std::fprintf(stderr, "FAIL: %s (line %d)\n", #cond, __LINE__); \
            return 1; \
        } \
    } while (false)

int main(int argc, char **argv)
{
    std::vector<std::shared_ptr<QPromise<bool>>> neverAnswered;
    std::vector<QFuture<kompoz::Result<int>>> futures;
    int callbacks = 0;
    {
        QCoreApplication app(argc, argv);
        auto hang = kompoz::asyncRule<int>([&neverAnswered](int) {
            auto p = std::make_shared<QPromise<bool>>();
            p->start();
            neverAnswered.push_back(p);
            return p->future();
        });
        // Deadlines far beyond the application's life, a pool with a queue behind it, and a
        // breaker around it all.
        auto guarded = kompoz::circuitBreaker(kompoz::withTimeout(kompoz::limited(hang, 2), 1h));
        auto slow = kompoz::withTimeout(hang, 10min);
        for (int i = 0; i < 20; ++i) {
            futures.push_back(guarded.run(i));
            futures.push_back(slow.run(i));
            slow.run(i, [&callbacks](const kompoz::Completion<int> &) { ++callbacks; });
        }
        QTimer::singleShot(50, &app, &QCoreApplication::quit);
        CHECK(app.exec() == 0);
        CHECK(kompoz::detail::TimerService::instance().pendingTimers() > 0);
    } // the application is destroyed here, with everything above still in flight

    int finished = 0;
    for (const auto &f : futures)
        finished += f.isFinished() ? 1 : 0;
    std::printf("after the application: %d of %zu futures finished, %d callbacks\n", finished,
                futures.size(), callbacks);
    CHECK(finished == int(futures.size()));
    CHECK(callbacks == 20);
    CHECK(kompoz::detail::TimerService::instance().pendingTimers() == 0);
    // 2 guarded runs held the pool's slots, 18 waited; the 40 slow runs all started a task.
    // As deadlines fire at shutdown, a freed slot may admit a waiter (which starts its task and
    // then times out too), so between 42 and 60 tasks were started, and none since.
    std::printf("tasks started: %zu\n", neverAnswered.size());
    CHECK(neverAnswered.size() >= 42 && neverAnswered.size() <= 60);
    neverAnswered.clear(); // cooperative tasks stop: their promises end as cancelled
    return 0;
}
