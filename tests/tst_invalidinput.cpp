// SPDX-License-Identifier: MIT
// Every public entry point against every class of bad value: zero, negative, huge, empty
// handles, null objects, self-composition. Each either works as documented or throws
// std::invalid_argument whose message names the parameter.

#include <kompoz/kompoz.h>

#include "kompoztest.h"

#include <QtTest/QtTest>

#include <climits>
#include <functional>

using namespace std::chrono_literals;
using Thunk = std::function<void()>;
Q_DECLARE_METATYPE(Thunk)

namespace {
kompoz::AsyncCombinator<int> yes()
{
    return kompoz::asyncRule<int>([](int) { return true; }, QStringLiteral("yes"));
}
} // namespace

class tst_InvalidInput : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void rejected_data();
    void rejected();
    void accepted_data();
    void accepted();
};

void tst_InvalidInput::rejected_data()
{
    QTest::addColumn<Thunk>("call");
    QTest::addColumn<QString>("parameter");
    const kompoz::AsyncCombinator<int> empty;
    const auto ok = yes();

    // Empty handles, wherever a combinator is taken.
    QTest::newRow("run on an empty handle")
            << Thunk([=] { empty.run(1); }) << QStringLiteral("run");
    QTest::newRow("& left empty") << Thunk([=] { (void)(empty & ok); }) << QStringLiteral("left");
    QTest::newRow("& right empty") << Thunk([=] { (void)(ok & empty); }) << QStringLiteral("right");
    QTest::newRow("| empty") << Thunk([=] { (void)(empty | ok); }) << QStringLiteral("left");
    QTest::newRow(">> empty") << Thunk([=] { (void)(ok >> empty); }) << QStringLiteral("right");
    QTest::newRow("~ empty") << Thunk([=] { (void)~empty; }) << QStringLiteral("operand");
    QTest::newRow("ifElse then empty")
            << Thunk([=] { ok.ifElse(empty, ok); }) << QStringLiteral("thenBranch");
    QTest::newRow("ifElse else empty")
            << Thunk([=] { ok.ifElse(ok, empty); }) << QStringLiteral("elseBranch");
    QTest::newRow("asyncIfThenElse condition empty")
            << Thunk([=] { kompoz::asyncIfThenElse(empty, ok, ok); })
            << QStringLiteral("condition");
    QTest::newRow("parallelAnd empty list")
            << Thunk([] { kompoz::parallelAnd(QList<kompoz::AsyncCombinator<int>>()); })
            << QStringLiteral("at least one");
    QTest::newRow("parallelOr empty list")
            << Thunk([] { kompoz::parallelOr(QList<kompoz::AsyncCombinator<int>>()); })
            << QStringLiteral("at least one");
    QTest::newRow("parallelAnd with an empty handle") << Thunk([=] {
        kompoz::parallelAnd<int>({ok, empty});
    }) << QStringLiteral("combinators");
    QTest::newRow("withTimeout empty")
            << Thunk([=] { kompoz::withTimeout(empty, 1s); }) << QStringLiteral("inner");
    QTest::newRow("limited empty")
            << Thunk([=] { kompoz::limited(empty, 1); }) << QStringLiteral("inner");
    QTest::newRow("circuitBreaker empty")
            << Thunk([=] { kompoz::circuitBreaker(empty); }) << QStringLiteral("inner");
    QTest::newRow("withMetrics empty")
            << Thunk([=] { kompoz::withMetrics(empty); }) << QStringLiteral("inner");

    // Null objects.
    QTest::newRow("asyncRule null context") << Thunk([] {
        kompoz::asyncRule<int>(static_cast<QObject *>(nullptr), [](int) { return true; });
    }) << QStringLiteral("context");
    QTest::newRow("asyncPipe null context") << Thunk([] {
        kompoz::asyncPipe<int>(static_cast<QObject *>(nullptr), [](int x) { return x; });
    }) << QStringLiteral("context");
    QTest::newRow("run with a null context") << Thunk([=] {
        ok.run(1, static_cast<QObject *>(nullptr), [](kompoz::Result<int>) {});
    }) << QStringLiteral("context");
    QTest::newRow("circuitBreaker null breaker")
            << Thunk([=] { kompoz::circuitBreaker(ok, std::shared_ptr<kompoz::CircuitBreaker>()); })
            << QStringLiteral("breaker");
    QTest::newRow("limited null pool")
            << Thunk([=] { kompoz::limited(ok, std::shared_ptr<kompoz::ConcurrencyPool>()); })
            << QStringLiteral("pool");

    // Zero and negative numbers.
    for (int bad : {0, -1, INT_MIN}) {
        const QByteArray n = QByteArray::number(bad);
        QTest::addRow("limited maxConcurrent %s", n.constData())
                << Thunk([=] { kompoz::limited(ok, bad); }) << QStringLiteral("maxConcurrent");
        QTest::addRow("named pool maxConcurrent %s", n.constData())
                << Thunk([=] { kompoz::limited(ok, bad, QStringLiteral("invalid-input")); })
                << QStringLiteral("maxConcurrent");
        QTest::addRow("setMaxConcurrent %s", n.constData())
                << Thunk([=] { kompoz::limited(ok, 2).pool()->setMaxConcurrent(bad); })
                << QStringLiteral("maxConcurrent");
        QTest::addRow("failureThreshold %s", n.constData())
                << Thunk([=] { kompoz::circuitBreaker(ok, bad); })
                << QStringLiteral("failureThreshold");
        QTest::addRow("setFailureThreshold %s", n.constData())
                << Thunk([=] { kompoz::circuitBreaker(ok).breaker()->setFailureThreshold(bad); })
                << QStringLiteral("failureThreshold");
        QTest::addRow("halfOpenMaxCalls %s", n.constData())
                << Thunk([=] { kompoz::circuitBreaker(ok, 5, 30s, bad); })
                << QStringLiteral("halfOpenMaxCalls");
        QTest::addRow("setHalfOpenMaxCalls %s", n.constData())
                << Thunk([=] { kompoz::circuitBreaker(ok).breaker()->setHalfOpenMaxCalls(bad); })
                << QStringLiteral("halfOpenMaxCalls");
        QTest::addRow("withTimeout %s ms", n.constData())
                << Thunk([=] { kompoz::withTimeout(ok, std::chrono::milliseconds(bad)); })
                << QStringLiteral("timeout");
        QTest::addRow("setTimeoutMs %s", n.constData())
                << Thunk([=] { kompoz::withTimeout(ok, 1s).policy()->setTimeoutMs(bad); })
                << QStringLiteral("timeout");
    }
    QTest::newRow("withTimeout 0.0 s (double)")
            << Thunk([=] { kompoz::withTimeout(ok, std::chrono::duration<double>(0.0)); })
            << QStringLiteral("timeout");
    QTest::newRow("recoveryTimeout negative") << Thunk([=] { kompoz::circuitBreaker(ok, 5, -1s); })
                                              << QStringLiteral("recoveryTimeout");
    QTest::newRow("recoveryTimeout -0.5 s (double)")
            << Thunk([=] { kompoz::circuitBreaker(ok, 5, std::chrono::duration<double>(-0.5)); })
            << QStringLiteral("recoveryTimeout");
    QTest::newRow("setRecoveryTimeoutMs negative")
            << Thunk([=] { kompoz::circuitBreaker(ok).breaker()->setRecoveryTimeoutMs(-5); })
            << QStringLiteral("recoveryTimeout");
    QTest::newRow("ManualClock::advance negative")
            << Thunk([] { kompoz::ManualClock().advance(-1ms); }) << QStringLiteral("by");
    QTest::newRow("RollingMetrics window 0")
            << Thunk([] { kompoz::RollingMetrics m(0s); }) << QStringLiteral("window");
}

void tst_InvalidInput::rejected()
{
    QFETCH(Thunk, call);
    QFETCH(QString, parameter);
    try {
        call();
    } catch (const std::invalid_argument &e) {
        const QString what = QString::fromUtf8(e.what());
        QVERIFY2(
                what.contains(parameter),
                qPrintable(QStringLiteral("message \"%1\" does not name %2").arg(what, parameter)));
        return;
    }
    QFAIL("no std::invalid_argument");
}

// Values at the edges that are valid: they work as documented, and nothing overflows.
void tst_InvalidInput::accepted_data()
{
    QTest::addColumn<Thunk>("call");
    const auto ok = yes();
    QTest::newRow("huge maxConcurrent") << Thunk([=] {
        auto l = kompoz::limited(ok, INT_MAX);
        QVERIFY(l.run(1).result().ok);
        QCOMPARE(l.maxConcurrent(), INT_MAX);
    });
    QTest::newRow("huge failureThreshold") << Thunk([=] {
        auto b = kompoz::circuitBreaker(kompoz::asyncRule<int>([](int) { return false; }), INT_MAX);
        QVERIFY(!b.run(1).result().ok);
        QCOMPARE_ENUM(b.state(), kompoz::CircuitState::Closed);
    });
    QTest::newRow("huge timeout (a million years)") << Thunk([=] {
        auto t = kompoz::withTimeout(ok, std::chrono::hours(24 * 365) * 1000000);
        QVERIFY(t.run(1).result().ok);
        QVERIFY(t.timeout() > std::chrono::hours(24 * 365 * 50));
    });
    QTest::newRow("huge recovery timeout (a million years)") << Thunk([=] {
        auto b = kompoz::circuitBreaker(kompoz::asyncRule<int>([](int) { return false; }), 1,
                                        std::chrono::hours(24 * 365) * 1000000);
        QVERIFY(!b.run(1).result().ok);
        QCOMPARE_ENUM(b.state(), kompoz::CircuitState::Open);
        QVERIFY(!b.run(1).result().ok); // rejected: the open period does not wrap around
        QCOMPARE(b.stats().rejectedCount, 1);
    });
    QTest::newRow("zero recovery timeout") << Thunk([=] {
        auto b = kompoz::circuitBreaker(kompoz::asyncRule<int>([](int x) { return x > 0; }), 1, 0s);
        QVERIFY(!b.run(0).result().ok);
        QCOMPARE_ENUM(b.state(), kompoz::CircuitState::Open);
        QVERIFY(b.run(1).result().ok); // half-open at once, and the trial closes it
        QCOMPARE_ENUM(b.state(), kompoz::CircuitState::Closed);
    });
    QTest::newRow("a 1 ns timeout") << Thunk([=] {
        auto t = kompoz::withTimeout(ok, 1ns);
        QVERIFY(t.run(1).result().ok); // a task that is already done is never timed out
    });
    QTest::newRow("self-composition a & a") << Thunk([=] {
        auto twice = ok & ok;
        QVERIFY(twice.run(1).result().ok);
        auto b = kompoz::circuitBreaker(ok);
        auto both = b >> b;
        QVERIFY(both.run(1).result().ok);
        QCOMPARE(b.stats().successCount, 2);
    });
    QTest::newRow("the same combinator in two trees at once") << Thunk([=] {
        auto b = kompoz::circuitBreaker(ok);
        auto t1 = b & ok;
        auto t2 = kompoz::parallelAnd<int>({b, b, ok});
        QVERIFY(t1.run(1).result().ok);
        QVERIFY(t2.run(1).result().ok);
        QCOMPARE(b.stats().successCount, 3);
    });
    QTest::newRow("two names, two pools") << Thunk([=] {
        auto a = kompoz::limited(ok, 1, QStringLiteral("invalid-input-a"));
        auto b = kompoz::limited(ok, 1, QStringLiteral("invalid-input-b"));
        QVERIFY(a.pool() != b.pool());
    });
}

void tst_InvalidInput::accepted()
{
    QFETCH(Thunk, call);
    call();
}

QTEST_GUILESS_MAIN(tst_InvalidInput)
#include "tst_invalidinput.moc"
