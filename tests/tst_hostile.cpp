// SPDX-License-Identifier: MIT
// Callbacks and slots that misbehave: re-enter the breaker from onStateChange or from a slot
// on stateChanged, reset() from a signal, throw from a completion callback, block in a slot
// while other threads keep running, drop the handle from inside its own callback. Each has a
// documented outcome; none may deadlock (a deadlock trips the watchdog and fails the test).

#include <kompoz/kompoz.h>

#include "kompoztest.h"

#include <QtTest/QtTest>

using namespace std::chrono_literals;
using kompoz::CircuitState;

namespace {
kompoz::AsyncCombinator<int> verdict()
{
    // ok when ctx > 0
    return kompoz::asyncRule<int>([](int x) { return x > 0; }, QStringLiteral("positive"));
}
} // namespace

class tst_Hostile : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void init() { m_watchdog.arm(std::chrono::seconds(60)); }
    void cleanup() { m_watchdog.disarm(); }

    void onStateChangeRunsThroughTheSameBreaker();
    void slotOnStateChangedCallsReset();
    void slotOnStateChangedRunsTheBreakerAgain();
    void completionCallbackThrows();
    void blockingSlotDoesNotStopOtherThreads();
    void handleDroppedInsideItsOwnCallback();
    void onTimeoutRunsTheSameTimeout();

private:
    kompoztest::Watchdog m_watchdog;
};

// kompoz calls on_state_change after the change: a run from inside it sees the new state.
void tst_Hostile::onStateChangeRunsThroughTheSameBreaker()
{
    std::shared_ptr<kompoz::AsyncCircuitBreaker<int>> self;
    QList<bool> nestedOk;
    QList<CircuitState> seenInside;
    auto breaker = kompoz::circuitBreaker(
            verdict(), 2, 30s, 1,
            [&](CircuitState, CircuitState to, const kompoz::CircuitBreakerStats &) {
                seenInside << self->state();
                // Re-entrant run: rejected when it just opened.
                nestedOk << self->run(5).result().ok;
                QCOMPARE_ENUM(to, self->state());
            });
    self = std::make_shared<kompoz::AsyncCircuitBreaker<int>>(breaker);
    QVERIFY(!breaker.run(-1).result().ok);
    QVERIFY(!breaker.run(-1).result().ok); // opens; the callback runs through it again
    QCOMPARE(nestedOk, QList<bool>({false}));
    QCOMPARE(seenInside.size(), 1);
    QCOMPARE_ENUM(seenInside.first(), CircuitState::Open);
    QCOMPARE(breaker.stats().rejectedCount, 1);
    QCOMPARE_ENUM(breaker.state(), CircuitState::Open);
}

// reset() from a slot on stateChanged: the reset is a transition of its own, emitted after the
// one being delivered, so receivers see Closed -> Open, then Open -> Closed.
void tst_Hostile::slotOnStateChangedCallsReset()
{
    auto breaker = kompoz::circuitBreaker(verdict(), 1, 30s);
    QList<QPair<CircuitState, CircuitState>> seen;
    QObject::connect(breaker.breaker(), &kompoz::CircuitBreaker::transitioned, breaker.breaker(),
                     [&](CircuitState from, CircuitState to) {
                         seen.append({from, to});
                     });
    QObject::connect(breaker.breaker(), &kompoz::CircuitBreaker::opened, breaker.breaker(),
                     [&] { breaker.reset(); });
    QVERIFY(!breaker.run(-1).result().ok);
    QCOMPARE(seen.size(), 2);
    QCOMPARE_ENUM(seen[0].first, CircuitState::Closed);
    QCOMPARE_ENUM(seen[0].second, CircuitState::Open);
    QCOMPARE_ENUM(seen[1].first, CircuitState::Open);
    QCOMPARE_ENUM(seen[1].second, CircuitState::Closed);
    QCOMPARE_ENUM(breaker.state(), CircuitState::Closed);
    QVERIFY(breaker.run(1).result().ok);
}

// A slot that fails another run through the breaker while the first transition is still being
// delivered: the second transition (Open -> HalfOpen -> Open with a zero recovery) queues behind
// the first and the sequence stays legal.
void tst_Hostile::slotOnStateChangedRunsTheBreakerAgain()
{
    auto breaker = kompoz::circuitBreaker(verdict(), 1, 0s);
    QList<QPair<CircuitState, CircuitState>> seen;
    int reentered = 0;
    QObject::connect(breaker.breaker(), &kompoz::CircuitBreaker::transitioned, breaker.breaker(),
                     [&](CircuitState from, CircuitState to) {
                         seen.append({from, to});
                         if (to == CircuitState::Open && reentered++ == 0)
                             breaker.run(-1).waitForFinished(); // half-open trial, fails again
                     });
    QVERIFY(!breaker.run(-1).result().ok);
    QCOMPARE(reentered, 2);
    QCOMPARE(seen.size(), 3);
    CircuitState at = CircuitState::Closed;
    for (const auto &[from, to] : std::as_const(seen)) {
        QCOMPARE_ENUM(from, at);
        at = to;
    }
    QCOMPARE_ENUM(at, CircuitState::Open);
}

// A completion callback that throws: logged and dropped; the breaker counted the run, and the
// next run works.
void tst_Hostile::completionCallbackThrows()
{
    auto breaker = kompoz::circuitBreaker(verdict(), 3);
    QTest::ignoreMessage(QtWarningMsg,
                         QRegularExpression(QStringLiteral("completion callback threw")));
    int calls = 0;
    breaker.run(1, [&calls](const kompoz::Result<int> &) {
        ++calls;
        throw std::runtime_error("callback threw");
    });
    QCOMPARE(calls, 1);
    QCOMPARE(breaker.stats().successCount, 1);
    QVERIFY(breaker.run(2).result().ok);
    QCOMPARE(breaker.stats().successCount, 2);
}

// A slot that blocks (200 ms) in the thread that emits a transition: other threads keep
// running through the breaker meanwhile, and their transitions are delivered afterwards.
void tst_Hostile::blockingSlotDoesNotStopOtherThreads()
{
    auto breaker = kompoz::circuitBreaker(verdict(), 1, 0s);
    std::atomic<int> blocked {0};
    QObject::connect(
            breaker.breaker(), &kompoz::CircuitBreaker::opened, breaker.breaker(),
            [&] {
                if (blocked.fetch_add(1) == 0)
                    QThread::msleep(200);
            },
            Qt::DirectConnection);
    std::thread first([&] { breaker.run(-1).waitForFinished(); });
    QVERIFY(kompoztest::waitUntil([&] { return blocked.load() == 1; }));
    // While the first thread sits in the slot, another thread runs 1,000 times.
    std::atomic<int> done {0};
    std::thread other([&] {
        for (int i = 0; i < 1000; ++i) {
            breaker.run(i % 2 ? 1 : -1).waitForFinished();
            done.fetch_add(1);
        }
    });
    other.join();
    first.join();
    QCOMPARE(done.load(), 1000);
    QVERIFY(blocked.load() > 1); // the queued transitions were delivered after the block
}

// The last handle dropped inside the run's own completion callback: the run finishes cleanly.
void tst_Hostile::handleDroppedInsideItsOwnCallback()
{
    kompoztest::Tasks<bool> tasks;
    auto holder = std::make_unique<kompoz::AsyncCircuitBreaker<int>>(
            kompoz::circuitBreaker(kompoz::asyncRule<int>(tasks.fn())));
    bool called = false;
    kompoz::RunHandle h = holder->run(1, [&](const kompoz::Completion<int> &c) {
        called = true;
        QCOMPARE_ENUM(c.outcome, kompoz::Outcome::Success);
        holder.reset(); // drops the combinator from inside its own run
    });
    QVERIFY(h.isPending());
    tasks.finish(0, true);
    QVERIFY(called);
    QVERIFY(!holder);
}

// onTimeout runs the same (already finished) timeout again from the timer thread.
void tst_Hostile::onTimeoutRunsTheSameTimeout()
{
    kompoztest::Tasks<bool> tasks;
    auto task = kompoz::asyncRule<int>([&tasks](int x) -> QFuture<bool> {
        if (x == 0)
            return tasks.start(x); // hangs
        return kompoztest::ready(true);
    });
    std::shared_ptr<kompoz::AsyncTimeout<int>> self;
    auto timed = kompoz::withTimeout(task, 30ms, [&self](int ctx) {
        return self->run(1).result().ok ? ctx + 100 : ctx; // a nested run of the same timeout
    });
    self = std::make_shared<kompoz::AsyncTimeout<int>>(timed);
    const kompoz::Result<int> r = timed.run(0).result();
    QVERIFY(!r.ok);
    QCOMPARE(r.ctx, 100);
    QCOMPARE(timed.policy()->timedOutCount(), 1);
    self.reset();
}

QTEST_GUILESS_MAIN(tst_Hostile)
#include "tst_hostile.moc"
