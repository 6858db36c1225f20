// SPDX-License-Identifier: MIT
// Hedging: no hedge when the first attempt answers in time; a hedge after the delay; the first
// success wins and the others are cancelled; a failure starts the next hedge at once; the last
// failure is the verdict; zero delay; cancellation; counts; bad arguments.

#include <kompoz/kompoz.h>

#include "kompoztest.h"

#include <QSignalSpy>
#include <QtTest/QtTest>

#include <stdexcept>

using namespace std::chrono_literals;
using kompoz::Outcome;
using kompoz::Result;
using kompoztest::Tasks;

namespace {
int pendingTimers() { return kompoz::detail::TimerService::instance().pendingTimers(); }
} // namespace

class tst_Hedged : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init() { m_watchdog.arm(); }
    void cleanup() { m_watchdog.disarm(); }

    void readyFirstAttemptSchedulesNothing();
    void hedgeStartsAfterDelayAndWins();
    void firstSuccessCancelsHedges();
    void failureStartsNextHedgeAtOnce();
    void allFailLastVerdict();
    void lastExceptionReachesCaller();
    void zeroDelayStartsAllAtOnce();
    void atMostMaxHedges();
    void cancelCancelsEveryAttempt();
    void repr();
    void badArguments_data();
    void badArguments();

private:
    kompoztest::Watchdog m_watchdog;
};

void tst_Hedged::readyFirstAttemptSchedulesNothing()
{
    const int before = pendingTimers();
    auto h = kompoz::hedged(kompoz::asyncRule<int>([](int) { return true; }), 1s, 2);
    QFuture<Result<int>> f = h.run(3);
    QVERIFY(f.isFinished());
    QCOMPARE(f.result().ctx, 3);
    QCOMPARE(pendingTimers(), before);
    QCOMPARE(h.policy()->hedgeCount(), 0);
}

void tst_Hedged::hedgeStartsAfterDelayAndWins()
{
    Tasks<bool> tasks;
    auto h = kompoz::hedged(kompoz::asyncRule<int>(tasks.fn()), 30ms, 1);
    QSignalSpy hedges(h.policy(), &kompoz::HedgingPolicy::hedgeCountChanged);
    QFuture<Result<int>> f = h.run(7);
    QCOMPARE(tasks.started(), 1);
    QVERIFY(tasks.waitForStarted(2)); // the hedge, after 30 ms
    QCOMPARE(tasks.arg(1), 7); // on the same input
    tasks.finish(1, true);
    QVERIFY(kompoztest::waitFor(f));
    QVERIFY(f.result().ok);
    QVERIFY(tasks.isCanceled(0)); // the slow first attempt was cancelled
    QCOMPARE(h.policy()->hedgeCount(), 1);
    QCOMPARE(h.policy()->hedgeWinCount(), 1);
    QTRY_COMPARE(hedges.count(), 1);
}

void tst_Hedged::firstSuccessCancelsHedges()
{
    Tasks<bool> tasks;
    auto h = kompoz::hedged(kompoz::asyncRule<int>(tasks.fn()), 10ms, 2);
    QFuture<Result<int>> f = h.run(0);
    QVERIFY(tasks.waitForStarted(3));
    tasks.finish(0, true);
    QVERIFY(kompoztest::waitFor(f));
    QVERIFY(f.result().ok);
    QVERIFY(tasks.isCanceled(1));
    QVERIFY(tasks.isCanceled(2));
    QCOMPARE(h.policy()->hedgeWinCount(), 0);
}

void tst_Hedged::failureStartsNextHedgeAtOnce()
{
    Tasks<bool> tasks;
    auto h = kompoz::hedged(kompoz::asyncRule<int>(tasks.fn()), 10s, 1);
    QFuture<Result<int>> f = h.run(0);
    QCOMPARE(tasks.started(), 1);
    tasks.finish(0, false);
    QCOMPARE(tasks.started(), 2); // not 10 s later
    QVERIFY(!f.isFinished());
    tasks.finish(1, true);
    QVERIFY(kompoztest::waitFor(f));
    QVERIFY(f.result().ok);
}

void tst_Hedged::allFailLastVerdict()
{
    std::atomic<int> calls {0};
    auto h = kompoz::hedged(kompoz::asyncPipe<int>([&calls](int x) {
                                ++calls;
                                return x + 1;
                            }) & kompoz::asyncRule<int>([](int) { return false; }),
                            10s, 2);
    QFuture<Result<int>> f = h.run(1);
    QVERIFY(f.isFinished()); // each failure started the next at once
    QCOMPARE(f.result().ok, false);
    QCOMPARE(f.result().ctx, 2);
    QCOMPARE(calls.load(), 3);
}

void tst_Hedged::lastExceptionReachesCaller()
{
    Tasks<bool> tasks;
    auto h = kompoz::hedged(kompoz::asyncRule<int>(tasks.fn()), 10ms, 1);
    QFuture<Result<int>> f = h.run(0);
    QVERIFY(tasks.waitForStarted(2));
    tasks.finish(0, false);
    QVERIFY(!f.isFinished());
    tasks.fail(1, std::runtime_error("hedge threw"));
    QVERIFY(kompoztest::waitFor(f));
    QCOMPARE(kompoztest::exceptionMessage(f), QStringLiteral("hedge threw"));
}

void tst_Hedged::zeroDelayStartsAllAtOnce()
{
    Tasks<bool> tasks;
    auto h = kompoz::hedged(kompoz::asyncRule<int>(tasks.fn()), 0ms, 2);
    QFuture<Result<int>> f = h.run(0);
    QCOMPARE(tasks.started(), 3);
    tasks.finish(2, true);
    QVERIFY(kompoztest::waitFor(f));
    QVERIFY(f.result().ok);
    QVERIFY(tasks.isCanceled(0) && tasks.isCanceled(1));
}

void tst_Hedged::atMostMaxHedges()
{
    Tasks<bool> tasks;
    auto h = kompoz::hedged(kompoz::asyncRule<int>(tasks.fn()), 5ms, 2);
    QFuture<Result<int>> f = h.run(0);
    QVERIFY(tasks.waitForStarted(3));
    QTest::qWait(60); // many more delays: no fourth attempt
    QCOMPARE(tasks.started(), 3);
    tasks.finish(0, false);
    tasks.finish(1, false);
    QVERIFY(!f.isFinished());
    tasks.finish(2, false);
    QVERIFY(kompoztest::waitFor(f));
    QCOMPARE(f.result().ok, false);
}

void tst_Hedged::cancelCancelsEveryAttempt()
{
    Tasks<bool> tasks;
    auto h = kompoz::hedged(kompoz::asyncRule<int>(tasks.fn()), 10ms, 1);
    QFuture<Result<int>> f = h.run(0);
    QVERIFY(tasks.waitForStarted(2));
    f.cancel();
    QVERIFY(kompoztest::waitFor(f, 5000));
    QCOMPARE(f.resultCount(), 0);
    QVERIFY(tasks.isCanceled(0) && tasks.isCanceled(1));

    // Cancelled before the hedge: the hedge never starts, its timer is removed.
    Tasks<bool> more;
    const int before = pendingTimers();
    auto slow = kompoz::hedged(kompoz::asyncRule<int>(more.fn()), 10s, 1);
    kompoz::RunHandle handle = slow.run(0, [](const kompoz::Completion<int> &) {});
    QCOMPARE(pendingTimers(), before + 1);
    handle.cancel();
    QCOMPARE(pendingTimers(), before);
    QCOMPARE(more.started(), 1);
}

void tst_Hedged::repr()
{
    auto rule = kompoz::asyncRule<int>([](int) { return true; }, QStringLiteral("replica"));
    QCOMPARE(kompoz::hedged(rule, 200ms, 2).repr(),
             QStringLiteral("AsyncHedged(AsyncPredicate(replica), delay=0.2, max_hedges=2)"));
}

void tst_Hedged::badArguments_data()
{
    QTest::addColumn<int>("which");
    QTest::addColumn<QString>("parameter");
    QTest::newRow("negative delay") << 0 << QStringLiteral("delay");
    QTest::newRow("no hedges") << 1 << QStringLiteral("maxHedges");
    QTest::newRow("too many hedges") << 2 << QStringLiteral("maxHedges");
    QTest::newRow("empty inner") << 3 << QStringLiteral("inner");
}

void tst_Hedged::badArguments()
{
    QFETCH(int, which);
    QFETCH(QString, parameter);
    auto rule = kompoz::asyncRule<int>([](int) { return true; });
    const QString m = kompoztest::invalidArgumentMessage([&] {
        switch (which) {
        case 0:
            kompoz::hedged(rule, -1ms, 1);
            break;
        case 1:
            kompoz::hedged(rule, 1ms, 0);
            break;
        case 2:
            kompoz::hedged(rule, 1ms, 101);
            break;
        case 3:
            kompoz::hedged(kompoz::AsyncCombinator<int>(), 1ms, 1);
            break;
        }
    });
    QVERIFY2(m.contains(parameter) && m.contains(QStringLiteral("hedged")), qPrintable(m));
}

QTEST_GUILESS_MAIN(tst_Hedged)
#include "tst_hedged.moc"
