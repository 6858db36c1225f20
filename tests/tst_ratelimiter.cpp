// SPDX-License-Identifier: MIT
// Rate limiting: the token bucket (burst, refill, cap) on a ManualClock, the FIFO queue and its
// limit, rejection at once with a signal, cancellation while waiting, the timer thread waking
// waiters in real time, counts, bad arguments.

#include <kompoz/kompoz.h>

#include "kompoztest.h"

#include <QElapsedTimer>
#include <QSignalSpy>
#include <QtTest/QtTest>

#include <atomic>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using kompoz::Completion;
using kompoz::Outcome;
using kompoz::Result;

namespace {

//! A rule that passes at once and records the order contexts reached it in.
struct Recorder
{
    QMutex mutex;
    QList<int> order;
    kompoz::AsyncCombinator<int> rule()
    {
        return kompoz::asyncRule<int>(
                [this](int x) {
                    QMutexLocker lock(&mutex);
                    order.append(x);
                    return true;
                },
                QStringLiteral("call"));
    }
    QList<int> seen()
    {
        QMutexLocker lock(&mutex);
        return order;
    }
};

} // namespace

class tst_RateLimiter : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init() { m_watchdog.arm(); }
    void cleanup() { m_watchdog.disarm(); }

    void burstThenQueueThenReject();
    void waitersStartInOrderAsTokensRefill();
    void refillIsCappedAtBurst();
    void cancelWhileWaitingLeavesQueue();
    void callbackCancelWhileWaiting();
    void queueLimitZeroRejectsAtOnce();
    void timerThreadWakesWaiters();
    void sharedLimiter();
    void manyThreads();
    void countsAndSignals();
    void repr();
    void badArguments_data();
    void badArguments();

private:
    kompoztest::Watchdog m_watchdog;
};

void tst_RateLimiter::burstThenQueueThenReject()
{
    kompoz::ManualClock clock;
    Recorder rec;
    auto api = kompoz::rateLimited(rec.rule(), 2, 1s, /*burst*/ 3, /*queueLimit*/ 2);
    api.limiter()->setClock(&clock);
    QSignalSpy rejected(api.limiter(), &kompoz::RateLimiter::callRejected);
    QList<QFuture<Result<int>>> fs;
    for (int i = 0; i < 6; ++i)
        fs.append(api.run(i));
    QVERIFY(fs[0].isFinished() && fs[1].isFinished() && fs[2].isFinished()); // the burst
    QVERIFY(!fs[3].isFinished() && !fs[4].isFinished()); // waiting their turn
    QVERIFY(fs[5].isFinished()); // the queue was full: rejected at once
    QCOMPARE(fs[5].result().ok, false);
    QCOMPARE(fs[5].result().ctx, 5);
    QCOMPARE(rejected.count(), 1);
    QCOMPARE(api.limiter()->queued(), 2);
    QCOMPARE(api.limiter()->rejectedCount(), 1);
    QCOMPARE(rec.seen(), (QList<int> {0, 1, 2}));

    std::optional<Completion<int>> c;
    api.run(9, [&](const Completion<int> &done) { c = done; });
    QVERIFY(c);
    QCOMPARE_ENUM(c->outcome, Outcome::Rejected);

    clock.advance(1s); // two tokens
    api.limiter()->poll();
    QVERIFY(kompoztest::waitFor(fs[3]) && kompoztest::waitFor(fs[4]));
    QCOMPARE(rec.seen(), (QList<int> {0, 1, 2, 3, 4}));
    QCOMPARE(api.limiter()->delayedCount(), 2);
    QCOMPARE(api.limiter()->admittedCount(), 5);
}

void tst_RateLimiter::waitersStartInOrderAsTokensRefill()
{
    kompoz::ManualClock clock;
    Recorder rec;
    auto api = kompoz::rateLimited(rec.rule(), 2, 1s, 1, 10);
    api.limiter()->setClock(&clock);
    QList<QFuture<Result<int>>> fs;
    for (int i = 0; i < 4; ++i)
        fs.append(api.run(i));
    QCOMPARE(rec.seen(), (QList<int> {0}));
    clock.advance(400ms); // 0.8 of a token: nobody
    api.limiter()->poll();
    QCOMPARE(rec.seen(), (QList<int> {0}));
    clock.advance(100ms);
    api.limiter()->poll();
    QCOMPARE(rec.seen(), (QList<int> {0, 1}));
    clock.advance(1s); // two tokens' worth, but the bucket holds one (burst 1)
    api.limiter()->poll();
    QCOMPARE(rec.seen(), (QList<int> {0, 1, 2}));
    // A token is there, but 3 waits: a new run queues behind it instead of overtaking.
    clock.advance(500ms);
    fs.append(api.run(4));
    QCOMPARE(rec.seen(), (QList<int> {0, 1, 2}));
    QCOMPARE(api.limiter()->queued(), 2);
    api.limiter()->poll();
    QCOMPARE(rec.seen(), (QList<int> {0, 1, 2, 3}));
    clock.advance(500ms);
    api.limiter()->poll();
    QCOMPARE(rec.seen(), (QList<int> {0, 1, 2, 3, 4}));
    for (const auto &f : fs)
        QVERIFY(kompoztest::waitFor(f));
}

void tst_RateLimiter::refillIsCappedAtBurst()
{
    kompoz::ManualClock clock;
    auto limiter = kompoz::RateLimiter::create(10, 1s, 4, 0);
    limiter->setClock(&clock);
    QCOMPARE(limiter->availablePermits(), 4);
    QVERIFY(limiter->tryTake());
    QCOMPARE(limiter->availablePermits(), 3);
    clock.advance(1h);
    QCOMPARE(limiter->availablePermits(), 4);
}

void tst_RateLimiter::cancelWhileWaitingLeavesQueue()
{
    kompoz::ManualClock clock;
    Recorder rec;
    auto api = kompoz::rateLimited(rec.rule(), 1, 1s, 1, 5);
    api.limiter()->setClock(&clock);
    QVERIFY(api.run(0).isFinished());
    QFuture<Result<int>> a = api.run(1);
    QFuture<Result<int>> b = api.run(2);
    QCOMPARE(api.limiter()->queued(), 2);
    a.cancel();
    QVERIFY(kompoztest::waitFor(a, 5000)); // the sweep notices the cancellation
    QCOMPARE(a.resultCount(), 0);
    QCOMPARE(api.limiter()->queued(), 1);
    clock.advance(1s);
    api.limiter()->poll();
    QVERIFY(kompoztest::waitFor(b));
    QCOMPARE(rec.seen(), (QList<int> {0, 2})); // 1 never started; 2 took its token
}

void tst_RateLimiter::callbackCancelWhileWaiting()
{
    kompoz::ManualClock clock;
    Recorder rec;
    auto api = kompoz::rateLimited(rec.rule(), 1, 1s, 1, 5);
    api.limiter()->setClock(&clock);
    QVERIFY(api.run(0).isFinished());
    std::optional<Completion<int>> c;
    kompoz::RunHandle h = api.run(1, [&](const Completion<int> &done) { c = done; });
    QVERIFY(h.isPending());
    h.cancel();
    QVERIFY(c);
    QCOMPARE_ENUM(c->outcome, Outcome::Canceled);
    QCOMPARE(api.limiter()->queued(), 0);
}

void tst_RateLimiter::queueLimitZeroRejectsAtOnce()
{
    kompoz::ManualClock clock;
    Recorder rec;
    auto api = kompoz::rateLimited(rec.rule(), 1, 1s, 1, 0);
    api.limiter()->setClock(&clock);
    QVERIFY(api.run(0).result().ok);
    QFuture<Result<int>> f = api.run(1);
    QVERIFY(f.isFinished());
    QVERIFY(!f.result().ok);
}

void tst_RateLimiter::timerThreadWakesWaiters()
{
    Recorder rec;
    auto api = kompoz::rateLimited(rec.rule(), 1, 50ms, 1, 10);
    QElapsedTimer t;
    t.start();
    QList<QFuture<Result<int>>> fs;
    for (int i = 0; i < 3; ++i)
        fs.append(api.run(i));
    QVERIFY(t.elapsed() < 50); // run() never waits
    // Also while this thread is blocked: the timer thread starts the waiters.
    fs[2].waitForFinished();
    QVERIFY2(t.elapsed() >= 80, qPrintable(QString::number(t.elapsed())));
    QVERIFY(t.elapsed() < 10000);
    QCOMPARE(rec.seen(), (QList<int> {0, 1, 2}));
}

void tst_RateLimiter::sharedLimiter()
{
    kompoz::ManualClock clock;
    auto limiter = kompoz::RateLimiter::create(1, 1s, 1, 0);
    limiter->setClock(&clock);
    Recorder rec;
    auto a = kompoz::rateLimited(rec.rule(), limiter);
    auto b = kompoz::rateLimited(rec.rule(), limiter);
    QVERIFY(a.run(0).result().ok);
    QVERIFY(!b.run(1).result().ok); // the token is shared
    QCOMPARE(limiter->rejectedCount(), 1);
}

void tst_RateLimiter::manyThreads()
{
    // 4 threads x 300 runs through a fast bucket with a small queue: every run ends once,
    // admitted + rejected add up, cancelled waiters never start.
    std::atomic<int> started {0};
    auto rule = kompoz::asyncRule<int>([&started](int) {
        ++started;
        return true;
    });
    auto api = kompoz::rateLimited(rule, 2000, 1s, 50, 40);
    constexpr int kThreads = 4, kRuns = 300;
    std::atomic<int> ended {0}, canceled {0}, rejected {0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            QList<kompoz::RunHandle> handles;
            for (int i = 0; i < kRuns; ++i) {
                handles.append(api.run(i, [&](const Completion<int> &c) {
                    ++ended;
                    canceled += c.outcome == Outcome::Canceled ? 1 : 0;
                    rejected += c.outcome == Outcome::Rejected ? 1 : 0;
                }));
                if (i % 7 == t)
                    handles.last().cancel();
            }
        });
    }
    for (std::thread &t : threads)
        t.join();
    QVERIFY(kompoztest::waitUntil([&] { return ended.load() == kThreads * kRuns; }, 20000));
    QCOMPARE(api.limiter()->queued(), 0);
    QCOMPARE(started.load(), api.limiter()->admittedCount());
    QCOMPARE(rejected.load(), api.limiter()->rejectedCount());
    QCOMPARE(started.load() + rejected.load() + canceled.load(), kThreads * kRuns);
}

void tst_RateLimiter::countsAndSignals()
{
    kompoz::ManualClock clock;
    Recorder rec;
    auto api = kompoz::rateLimited(rec.rule(), 1, 1s, 1, 1);
    kompoz::RateLimiter *l = api.limiter();
    l->setClock(&clock);
    QSignalSpy queued(l, &kompoz::RateLimiter::queuedChanged);
    QSignalSpy rejected(l, &kompoz::RateLimiter::rejectedCountChanged);
    QSignalSpy admitted(l, &kompoz::RateLimiter::admittedCountChanged);
    QVERIFY(queued.isValid() && rejected.isValid() && admitted.isValid());
    api.run(0);
    QFuture<Result<int>> waiting = api.run(1);
    api.run(2);
    QTRY_COMPARE(queued.count(), 1);
    QCOMPARE(queued.last().at(0).toInt(), 1);
    QTRY_COMPARE(rejected.count(), 1);
    QCOMPARE(l->property("rejectedCount").toInt(), 1);
    QCOMPARE(l->property("permits").toInt(), 1);
    QCOMPARE(l->property("perMs").toLongLong(), 1000);
    clock.advance(1s);
    l->poll();
    QVERIFY(kompoztest::waitFor(waiting));
    QTRY_COMPARE(queued.last().at(0).toInt(), 0);
    QTRY_COMPARE(admitted.last().at(0).toInt(), 2);
}

void tst_RateLimiter::repr()
{
    Recorder rec;
    QCOMPARE(kompoz::rateLimited(rec.rule(), 10, 1s, 20, 5).repr(),
             QStringLiteral("AsyncRateLimited(AsyncPredicate(call), permits=10, per=1.0, "
                            "burst=20, queue_limit=5)"));
}

void tst_RateLimiter::badArguments_data()
{
    QTest::addColumn<int>("which");
    QTest::addColumn<QString>("parameter");
    QTest::newRow("permits 0") << 0 << QStringLiteral("permits");
    QTest::newRow("per 0") << 1 << QStringLiteral("per");
    QTest::newRow("negative burst") << 2 << QStringLiteral("burst");
    QTest::newRow("negative queueLimit") << 3 << QStringLiteral("queueLimit");
    QTest::newRow("empty inner") << 4 << QStringLiteral("inner");
    QTest::newRow("null limiter") << 5 << QStringLiteral("limiter");
    QTest::newRow("RateLimiter burst 0") << 6 << QStringLiteral("burst");
}

void tst_RateLimiter::badArguments()
{
    QFETCH(int, which);
    QFETCH(QString, parameter);
    auto rule = kompoz::asyncRule<int>([](int) { return true; });
    const QString m = kompoztest::invalidArgumentMessage([&] {
        switch (which) {
        case 0:
            kompoz::rateLimited(rule, 0, 1s);
            break;
        case 1:
            kompoz::rateLimited(rule, 1, 0s);
            break;
        case 2:
            kompoz::rateLimited(rule, 1, 1s, -1);
            break;
        case 3:
            kompoz::rateLimited(rule, 1, 1s, 1, -1);
            break;
        case 4:
            kompoz::rateLimited(kompoz::AsyncCombinator<int>(), 1, 1s);
            break;
        case 5:
            kompoz::rateLimited(rule, std::shared_ptr<kompoz::RateLimiter>());
            break;
        case 6:
            kompoz::RateLimiter::create(1, 1s, 0, 0);
            break;
        }
    });
    QVERIFY2(m.contains(parameter), qPrintable(m));
}

QTEST_GUILESS_MAIN(tst_RateLimiter)
#include "tst_ratelimiter.moc"
