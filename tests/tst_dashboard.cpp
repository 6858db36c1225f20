// SPDX-License-Identifier: MIT
// Plays the dashboard's "outage" scenario offscreen and checks it the way a person would: by
// reading the widgets (found by objectName), not the library's internals.

#include "dashboardwindow.h"
#include "servicepanel.h"

#include <kompoz/circuitbreakerview.h>
#include <kompoz/statebadge.h>

#include <QLabel>
#include <QSignalSpy>
#include <QTest>
#include <QTreeWidget>

#include <vector>

class tst_Dashboard : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void outageOpensThenRecovers();
};

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
    const auto label = [card](const char *name) -> QString {
        auto *l = card->findChild<QLabel *>(QLatin1String(name));
        return l ? l->text() : QStringLiteral("<no label %1>").arg(QLatin1String(name));
    };
    const kompoz::CircuitBreakerStats stats = panel->breaker().stats();
    QVERIFY(stats.successCount > 0);
    QVERIFY(stats.rejectedCount > 0);
    QTRY_COMPARE(label("successCount"), QString::number(stats.successCount));
    QTRY_COMPARE(label("failureCount"), QString::number(stats.failureCount));
    QTRY_COMPARE(label("halfOpenSuccesses"), QString::number(stats.halfOpenSuccesses));
    QTRY_COMPARE(label("rejectedCount"), QString::number(stats.rejectedCount));
    QTRY_COMPARE(label("timedOutCount"),
                 QString::number(panel->timeout().policy()->timedOutCount()));
    QTRY_COMPARE(label("inFlight"), QStringLiteral("0"));
    QTRY_COMPARE(label("queued"), QStringLiteral("0"));
    QVERIFY(label("lastFailureTime") != QStringLiteral("–"));
    QVERIFY(label("lastSuccessTime") != QStringLiteral("–"));
    QVERIFY(label("successRate").endsWith(QLatin1String(" %")));

    // The event log shows the transitions with their times.
    auto *log = window.findChild<QTreeWidget *>(QStringLiteral("eventLog"));
    QVERIFY(log);
    int opened = 0, closed = 0;
    for (int row = 0; row < log->topLevelItemCount(); ++row) {
        const QTreeWidgetItem *item = log->topLevelItem(row);
        if (item->text(2) != QLatin1String("payments"))
            continue;
        QVERIFY(!item->text(0).isEmpty());
        if (item->text(3) == QLatin1String("Closed") && item->text(4) == QLatin1String("Open"))
            ++opened;
        if (item->text(3) == QLatin1String("Half-open") && item->text(4) == QLatin1String("Closed"))
            ++closed;
    }
    QCOMPARE(opened, 1);
    QCOMPARE(closed, 1);
}

QTEST_MAIN(tst_Dashboard)
#include "tst_dashboard.moc"
