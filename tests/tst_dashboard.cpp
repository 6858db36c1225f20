// SPDX-License-Identifier: MIT
// Plays the dashboard's "outage" and "policies" scenarios offscreen and checks them the way a
// person would: by reading the widgets (found by objectName) and clicking them, and comparing
// what they show with the library's objects.

#include "dashboardwindow.h"
#include "servicepanel.h"

#include <kompoz/circuitbreakerview.h>
#include <kompoz/statebadge.h>

#include <QComboBox>
#include <QLabel>
#include <QPushButton>
#include <QSignalSpy>
#include <QTest>
#include <QTreeWidget>

#include <memory>
#include <vector>

class tst_Dashboard : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void outageOpensThenRecovers();
    void policiesShowTheLibrarysCounts();
    void closingUnderLoadLeavesNoRunBehind();
};

namespace {
// The text of the value label `name` on `card`, as a person reads it.
QString label(const QWidget *card, const char *name)
{
    auto *l = card->findChild<QLabel *>(QLatin1String(name));
    return l ? l->text() : QStringLiteral("<no label %1>").arg(QLatin1String(name));
}

// The transitions of `service` from `from` to `to` in the event log.
int logged(const QTreeWidget *log, const QString &service, const QString &from, const QString &to)
{
    int n = 0;
    for (int row = 0; row < log->topLevelItemCount(); ++row) {
        const QTreeWidgetItem *item = log->topLevelItem(row);
        if (item->text(2) == service && item->text(3) == from && item->text(4) == to)
            ++n;
    }
    return n;
}
} // namespace

void tst_Dashboard::initTestCase() { applyDashboardTheme(); }

void tst_Dashboard::outageOpensThenRecovers()
{
    // arrange
    DashboardWindow window;
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    auto *card = window.findChild<QWidget *>(QStringLiteral("payments"));
    QVERIFY(card);
    auto *badge = card->findChild<kompoz::StateBadge *>(QStringLiteral("stateBadge"));
    QVERIFY(badge);
    QCOMPARE(badge->text(), QStringLiteral("Closed"));

    // Every state the badge shows, when: a half-open period may last a few milliseconds, so
    // polling the text could miss it; the badge announces each state it starts showing.
    struct Shown
    {
        double atS;
        QString text;
    };
    std::vector<Shown> shown {{0.0, badge->text()}};
    connect(badge, &kompoz::StateBadge::stateChanged, this, [&] {
        shown.push_back({window.elapsedS(), badge->text()});
    });
    QSignalSpy finished(&window, &DashboardWindow::scenarioFinished);
    QVERIFY(finished.isValid());

    // act
    QVERIFY(window.play(QStringLiteral("outage")));
    QVERIFY(finished.wait(30000));

    // assert: the run judged itself fine
    QVERIFY2(finished.at(0).at(0).toBool(), qPrintable(window.problems().join(u"; ")));
    QString story;
    for (const Shown &s : shown)
        story += QStringLiteral("%1 s %2; ").arg(s.atS, 0, 'f', 2).arg(s.text);

    // Closed until the outage (3 s), Open during it (3 s to 8 s) ...
    size_t i = 0;
    while (i < shown.size() && shown[i].text == QLatin1String("Closed"))
        ++i;
    QVERIFY2(i < shown.size(), qPrintable(story));
    QVERIFY2(shown[i].text == QLatin1String("Open"), qPrintable(story));
    QVERIFY2(shown[i].atS >= 3.0 && shown[i].atS < 8.0, qPrintable(story));
    // ... then, after the outage, Half-open and Closed, and Closed it stays.
    size_t halfOpen = i;
    while (halfOpen < shown.size() &&
           !(shown[halfOpen].text == QLatin1String("Half-open") && shown[halfOpen].atS >= 8.0))
        ++halfOpen;
    QVERIFY2(halfOpen + 1 < shown.size(), qPrintable(story));
    QVERIFY2(shown[halfOpen + 1].text == QLatin1String("Closed"), qPrintable(story));
    QVERIFY2(shown[halfOpen + 1].atS < 15.0, qPrintable(story));
    QCOMPARE(shown.back().text, QStringLiteral("Closed"));
    QCOMPARE(badge->text(), QStringLiteral("Closed"));

    // The counts on the card are the breaker's stats() (and the pool's, the timeout's).
    ServicePanel *panel = window.panel(QStringLiteral("payments"));
    QVERIFY(panel);
    const kompoz::CircuitBreakerStats stats = panel->breaker().stats();
    QVERIFY(stats.successCount > 0);
    QVERIFY(stats.rejectedCount > 0);
    QTRY_COMPARE(label(card, "successCount"), QString::number(stats.successCount));
    QTRY_COMPARE(label(card, "failureCount"), QString::number(stats.failureCount));
    QTRY_COMPARE(label(card, "halfOpenSuccesses"), QString::number(stats.halfOpenSuccesses));
    QTRY_COMPARE(label(card, "rejectedCount"), QString::number(stats.rejectedCount));
    QTRY_COMPARE(label(card, "timedOutCount"),
                 QString::number(panel->timeout().policy()->timedOutCount()));
    QTRY_COMPARE(label(card, "inFlight"), QStringLiteral("0"));
    QTRY_COMPARE(label(card, "queued"), QStringLiteral("0"));
    QVERIFY(label(card, "lastFailureTime") != QStringLiteral("–"));
    QVERIFY(label(card, "lastSuccessTime") != QStringLiteral("–"));
    QVERIFY(label(card, "successRate").endsWith(QLatin1String(" %")));

    // This scenario has no retry and no rate limit (the layers are left out), and a breaker
    // that counts failures in a row: the card says so.
    QCOMPARE(panel->retryPolicy(), nullptr);
    QCOMPARE(panel->rateLimiter(), nullptr);
    QCOMPARE(label(card, "retrySetting"), QStringLiteral("off"));
    QCOMPARE(label(card, "retryCount"), QStringLiteral("–"));
    QCOMPARE(label(card, "rateSetting"), QStringLiteral("off"));
    QCOMPARE(label(card, "rateRejectedCount"), QStringLiteral("–"));
    QCOMPARE(label(card, "breakerMode"), QStringLiteral("5 failures in a row"));
    QCOMPARE(label(card, "failureRatio"), QStringLiteral("–"));

    // The event log shows the transitions with their times.
    auto *log = window.findChild<QTreeWidget *>(QStringLiteral("eventLog"));
    QVERIFY(log);
    for (int row = 0; row < log->topLevelItemCount(); ++row)
        QVERIFY(!log->topLevelItem(row)->text(0).isEmpty());
    const QString payments = QStringLiteral("payments");
    QCOMPARE(logged(log, payments, QStringLiteral("Closed"), QStringLiteral("Open")), 1);
    QCOMPARE(logged(log, payments, QStringLiteral("Half-open"), QStringLiteral("Closed")), 1);
}

void tst_Dashboard::policiesShowTheLibrarysCounts()
{
    // arrange
    DashboardWindow window;
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QSignalSpy finished(&window, &DashboardWindow::scenarioFinished);
    QVERIFY(finished.isValid());

    // act: retry for payments, a rate limit for inventory, search's breaker by failure ratio,
    // chains rebuilt under load, payments isolated and reset (the scenario checks the times)
    QVERIFY(window.play(QStringLiteral("policies")));
    QVERIFY(finished.wait(30000));
    QVERIFY2(finished.at(0).at(0).toBool(), qPrintable(window.problems().join(u"; ")));

    // assert: payments' retry row shows its RetryPolicy's counts
    ServicePanel *payments = window.panel(QStringLiteral("payments"));
    auto *paymentsCard = window.findChild<QWidget *>(QStringLiteral("payments"));
    QVERIFY(payments && paymentsCard);
    const kompoz::RetryPolicy *retry = payments->retryPolicy();
    QVERIFY(retry);
    QVERIFY(retry->retryCount() > 0);
    QVERIFY(retry->recoveredCount() > 0);
    QCOMPARE(label(paymentsCard, "retrySetting"), QStringLiteral("4 attempts"));
    QTRY_COMPARE(label(paymentsCard, "retryCount"), QString::number(retry->retryCount()));
    QTRY_COMPARE(label(paymentsCard, "recoveredCount"), QString::number(retry->recoveredCount()));
    QTRY_COMPARE(label(paymentsCard, "exhaustedCount"), QString::number(retry->exhaustedCount()));
    QCOMPARE(label(paymentsCard, "rateSetting"), QStringLiteral("off"));

    // inventory's rate-limit row shows its RateLimiter's counts
    ServicePanel *inventory = window.panel(QStringLiteral("inventory"));
    auto *inventoryCard = window.findChild<QWidget *>(QStringLiteral("inventory"));
    QVERIFY(inventory && inventoryCard);
    const kompoz::RateLimiter *limiter = inventory->rateLimiter();
    QVERIFY(limiter);
    QVERIFY(limiter->rejectedCount() > 0);
    QCOMPARE(label(inventoryCard, "rateSetting"), QStringLiteral("80/s"));
    QTRY_COMPARE(label(inventoryCard, "rateRejectedCount"),
                 QString::number(limiter->rejectedCount()));
    QTRY_COMPARE(label(inventoryCard, "rateDelayedCount"),
                 QString::number(limiter->delayedCount()));
    QTRY_COMPARE(label(inventoryCard, "rateQueued"), QString::number(limiter->queued()));
    QCOMPARE(label(inventoryCard, "rateQueued"), QStringLiteral("0"));
    QCOMPARE(label(inventoryCard, "retrySetting"), QStringLiteral("off"));

    // search opened by failure ratio, then went back to failures in a row on a new breaker
    // that took over the counts; the card follows the breaker it has now
    ServicePanel *search = window.panel(QStringLiteral("search"));
    auto *searchCard = window.findChild<QWidget *>(QStringLiteral("search"));
    QVERIFY(search && searchCard);
    auto *log = window.findChild<QTreeWidget *>(QStringLiteral("eventLog"));
    QVERIFY(log);
    QVERIFY(logged(log, QStringLiteral("search"), QStringLiteral("Closed"),
                   QStringLiteral("Open")) >= 1);
    QCOMPARE(search->view()->breaker(), search->breaker().breaker());
    QCOMPARE(label(searchCard, "breakerMode"), QStringLiteral("5 failures in a row"));
    QTRY_COMPARE(label(searchCard, "successCount"),
                 QString::number(search->breaker().stats().successCount));
    QTRY_COMPARE(label(searchCard, "rejectedCount"),
                 QString::number(search->breaker().stats().rejectedCount));
    QVERIFY(search->breaker().stats().rejectedCount > 0); // rejected while open, carried over

    // A person clicks Isolate: payments' breaker is held open, the card says so; Reset ends it.
    auto *badge = paymentsCard->findChild<kompoz::StateBadge *>(QStringLiteral("stateBadge"));
    auto *isolate = paymentsCard->findChild<QPushButton *>(QStringLiteral("isolateBreaker"));
    auto *reset = paymentsCard->findChild<QPushButton *>(QStringLiteral("resetBreaker"));
    QVERIFY(badge && isolate && reset);
    QTest::mouseClick(isolate, Qt::LeftButton);
    QVERIFY(payments->breaker().breaker()->isIsolated());
    QCOMPARE(badge->text(), QStringLiteral("Open"));
    QCOMPARE(label(paymentsCard, "breakerMode"), QStringLiteral("Isolated"));
    QVERIFY(isolate->isChecked());
    QTest::mouseClick(reset, Qt::LeftButton);
    QVERIFY(!payments->breaker().breaker()->isIsolated());
    QCOMPARE(badge->text(), QStringLiteral("Closed"));
    QCOMPARE(label(paymentsCard, "breakerMode"), QStringLiteral("5 failures in a row"));
    QVERIFY(!isolate->isChecked());

    // ... and picks "Failure ratio" for search: a new breaker with the old one's counts.
    auto *mode = searchCard->findChild<QComboBox *>(QStringLiteral("breakerModeSelect"));
    QVERIFY(mode);
    const kompoz::CircuitBreaker *before = search->breaker().breaker();
    const int successes = before->successCount();
    mode->setCurrentIndex(int(ServicePanel::BreakerMode::FailureRatio));
    QVERIFY(search->breaker().breaker() != before);
    QCOMPARE(search->breakerMode(), ServicePanel::BreakerMode::FailureRatio);
    QCOMPARE(search->view()->breaker(), search->breaker().breaker());
    QCOMPARE(search->breaker().breaker()->successCount(), successes);
    QCOMPARE(label(searchCard, "breakerMode"), QStringLiteral("≥ 50 % of 100 calls fail"));
    QTRY_COMPARE(label(searchCard, "successCount"), QString::number(successes));
    QTRY_COMPARE(label(searchCard, "failureRatio"), QStringLiteral("0.0 %"));
}

void tst_Dashboard::closingUnderLoadLeavesNoRunBehind()
{
    // Runs waiting in a retry delay or a rate-limit queue outlive the window; when they go on,
    // they must find no service (and fail), not a deleted one. A sanitizer build checks it.
    auto window = std::make_unique<DashboardWindow>();
    window->show();
    QVERIFY(QTest::qWaitForWindowExposed(window.get()));
    QVERIFY(window->play(QStringLiteral("policies")));
    ServicePanel *inventory = window->panel(QStringLiteral("inventory"));
    QTRY_VERIFY(inventory->rateLimiter()->queued() > 0);
    window.reset();
    QTest::qWait(400); // past the longest retry delay; the rate limiter's queue drains meanwhile
}

QTEST_MAIN(tst_Dashboard)
#include "tst_dashboard.moc"
