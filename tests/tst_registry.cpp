// SPDX-License-Identifier: MIT
// Registry: objects by kind and name, added/removed signals, shared ownership, bad arguments,
// and saving/restoring every registered breaker at once (all or nothing).

#include <kompoz/kompoz.h>
#include <kompoz/registry.h>

#include "kompoztest.h"

#include <QJsonObject>
#include <QSignalSpy>
#include <QThread>
#include <QtTest/QtTest>

#include <thread>

using namespace std::chrono_literals;
using kompoz::CircuitState;
using kompoz::Registry;

class tst_Registry : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init() { m_watchdog.arm(); }
    void cleanup() { m_watchdog.disarm(); }

    void addFindRemove();
    void replaceEmitsRemovedThenAdded();
    void sharesOwnership();
    void addFromAnotherThread();
    void badArguments();
    void globalIsOne();
    void saveAndRestoreAllBreakers();
    void restoreAllOrNothing();

private:
    kompoztest::Watchdog m_watchdog;
};

void tst_Registry::addFindRemove()
{
    Registry r;
    QSignalSpy added(&r, &Registry::added);
    QSignalSpy removed(&r, &Registry::removed);
    QVERIFY(added.isValid() && removed.isValid());
    auto rule = kompoz::asyncRule<int>([](int) { return true; });
    auto breaker = kompoz::circuitBreaker(rule, 5, 30s);
    auto pool = kompoz::limited(rule, 3);
    auto rate = kompoz::rateLimited(rule, 10, 1s);
    auto retry = kompoz::retry(rule, 4);
    auto metrics = kompoz::withMetrics(rule);
    r.add(QStringLiteral("orders"), breaker.sharedBreaker());
    r.add(QStringLiteral("billing"), kompoz::circuitBreaker(rule, 2, 1s).sharedBreaker());
    r.add(QStringLiteral("db"), pool.sharedPool());
    r.add(QStringLiteral("api"), rate.sharedLimiter());
    r.add(QStringLiteral("fetch"), std::shared_ptr<kompoz::RetryPolicy>(retry.sharedPolicy()));
    r.add(QStringLiteral("orders"), metrics.sharedMetrics());
    QCOMPARE(r.count(), 6);
    QCOMPARE(added.count(), 6);
    QCOMPARE(added.at(0).at(0).value<Registry::Kind>(), Registry::Kind::Breaker);
    QCOMPARE(added.at(0).at(1).toString(), QStringLiteral("orders"));
    QCOMPARE(r.names(Registry::Kind::Breaker),
             (QStringList {QStringLiteral("billing"), QStringLiteral("orders")}));
    QCOMPARE(r.breaker(QStringLiteral("orders")).get(), breaker.breaker());
    QCOMPARE(r.pool(QStringLiteral("db")).get(), pool.pool());
    QCOMPARE(r.rateLimiter(QStringLiteral("api")).get(), rate.limiter());
    QCOMPARE(r.retryPolicy(QStringLiteral("fetch")).get(), retry.policy());
    QCOMPARE(r.metrics(QStringLiteral("orders")).get(), metrics.metrics());
    QVERIFY(!r.breaker(QStringLiteral("nope")));
    // For property-driven UIs: the QObject, with its properties.
    QObject *o = r.object(Registry::Kind::Pool, QStringLiteral("db"));
    QVERIFY(o);
    QCOMPARE(o->property("maxConcurrent").toInt(), 3);

    QVERIFY(r.remove(Registry::Kind::Breaker, QStringLiteral("orders")));
    QVERIFY(!r.remove(Registry::Kind::Breaker, QStringLiteral("orders")));
    QCOMPARE(removed.count(), 1);
    QCOMPARE(removed.at(0).at(0).value<Registry::Kind>(), Registry::Kind::Breaker);
    QVERIFY(r.metrics(QStringLiteral("orders"))); // another kind, same name: still there
    r.clear();
    QCOMPARE(r.count(), 0);
    QCOMPARE(removed.count(), 6);
}

void tst_Registry::replaceEmitsRemovedThenAdded()
{
    Registry r;
    auto rule = kompoz::asyncRule<int>([](int) { return true; });
    r.add(QStringLiteral("x"), kompoz::circuitBreaker(rule).sharedBreaker());
    QStringList events;
    connect(&r, &Registry::added, this,
            [&](Registry::Kind, const QString &n) { events << QStringLiteral("added ") + n; });
    connect(&r, &Registry::removed, this,
            [&](Registry::Kind, const QString &n) { events << QStringLiteral("removed ") + n; });
    auto second = kompoz::circuitBreaker(rule).sharedBreaker();
    r.add(QStringLiteral("x"), second);
    QCOMPARE(events, (QStringList {QStringLiteral("removed x"), QStringLiteral("added x")}));
    QCOMPARE(r.breaker(QStringLiteral("x")), second);
    r.add(QStringLiteral("x"), second); // the same object again: nothing happens
    QCOMPARE(events.size(), 2);
}

void tst_Registry::sharesOwnership()
{
    Registry r;
    std::weak_ptr<kompoz::CircuitBreaker> weak;
    {
        auto b = kompoz::circuitBreaker(kompoz::asyncRule<int>([](int) { return true; }));
        weak = b.sharedBreaker();
        r.add(QStringLiteral("kept"), b.sharedBreaker());
    }
    QVERIFY(!weak.expired()); // the registry keeps it for the dashboard
    r.remove(Registry::Kind::Breaker, QStringLiteral("kept"));
    QVERIFY(weak.expired());
}

void tst_Registry::addFromAnotherThread()
{
    Registry r;
    int seen = 0;
    connect(&r, &Registry::added, this, [&](Registry::Kind, const QString &) { ++seen; });
    auto b = kompoz::circuitBreaker(kompoz::asyncRule<int>([](int) { return true; }));
    std::thread t([&] { r.add(QStringLiteral("remote"), b.sharedBreaker()); });
    t.join();
    QTRY_COMPARE(seen, 1); // queued to this thread
}

void tst_Registry::badArguments()
{
    Registry r;
    auto b = kompoz::circuitBreaker(kompoz::asyncRule<int>([](int) { return true; }));
    QString m = kompoztest::invalidArgumentMessage([&] { r.add(QString(), b.sharedBreaker()); });
    QVERIFY2(m.contains(QStringLiteral("name")), qPrintable(m));
    m = kompoztest::invalidArgumentMessage(
            [&] { r.add(QStringLiteral("x"), std::shared_ptr<kompoz::CircuitBreaker>()); });
    QVERIFY2(m.contains(QStringLiteral("object")), qPrintable(m));
    QCOMPARE(r.count(), 0);
}

void tst_Registry::globalIsOne()
{
    QVERIFY(Registry::global());
    QCOMPARE(Registry::global(), Registry::global());
}

void tst_Registry::saveAndRestoreAllBreakers()
{
    kompoz::ManualClock clock;
    auto rule = kompoz::asyncRule<int>([](int) { return false; });
    Registry before;
    auto a = kompoz::circuitBreaker(rule, 1, 30s);
    auto b = kompoz::circuitBreaker(rule, 5, 30s);
    a.breaker()->setClock(&clock);
    b.breaker()->setClock(&clock);
    a.run(0);
    b.run(0);
    before.add(QStringLiteral("a"), a.sharedBreaker());
    before.add(QStringLiteral("b"), b.sharedBreaker());
    const QJsonObject saved = before.saveBreakers();
    QCOMPARE(saved.keys(), (QStringList {QStringLiteral("a"), QStringLiteral("b")}));

    // After a "restart": new breakers under the same names.
    Registry after;
    auto a2 = kompoz::circuitBreaker(rule, 1, 30s);
    auto b2 = kompoz::circuitBreaker(rule, 5, 30s);
    a2.breaker()->setClock(&clock);
    after.add(QStringLiteral("a"), a2.sharedBreaker());
    after.add(QStringLiteral("b"), b2.sharedBreaker());
    QString error;
    QVERIFY2(after.restoreBreakers(saved, &error), qPrintable(error));
    QCOMPARE_ENUM(a2.state(), CircuitState::Open);
    QCOMPARE(a2.run(0).result().ok, false);
    QCOMPARE(a2.stats().rejectedCount, 1);
    QCOMPARE_ENUM(b2.state(), CircuitState::Closed);
    QCOMPARE(b2.stats().failureCount, 1);
}

void tst_Registry::restoreAllOrNothing()
{
    auto rule = kompoz::asyncRule<int>([](int) { return false; });
    Registry r;
    auto a = kompoz::circuitBreaker(rule, 1, 30s);
    auto b = kompoz::circuitBreaker(rule, 1, 30s);
    r.add(QStringLiteral("a"), a.sharedBreaker());
    r.add(QStringLiteral("b"), b.sharedBreaker());
    auto source = kompoz::circuitBreaker(rule, 1, 30s);
    source.run(0); // Open
    QJsonObject state;
    state.insert(QStringLiteral("a"), source.breaker()->saveState());
    QJsonObject broken = source.breaker()->saveState();
    broken.insert(QStringLiteral("state"), QStringLiteral("Sideways"));
    state.insert(QStringLiteral("b"), broken);
    state.insert(QStringLiteral("unknown"), QStringLiteral("ignored: not registered"));
    QString error;
    QVERIFY(!r.restoreBreakers(state, &error));
    QVERIFY2(error.contains(QStringLiteral("'b'")) && error.contains(QStringLiteral("state")),
             qPrintable(error));
    QCOMPARE_ENUM(a.state(), CircuitState::Closed); // untouched, although its entry was fine
    QCOMPARE_ENUM(b.state(), CircuitState::Closed);
}

QTEST_GUILESS_MAIN(tst_Registry)
#include "tst_registry.moc"
