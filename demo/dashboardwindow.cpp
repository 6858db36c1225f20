// SPDX-License-Identifier: MIT
#include "dashboardwindow.h"

#include "loadgenerator.h"
#include "servicepanel.h"
#include "simulator.h"

#include <kompoz/circuitbreakerview.h>
#include <kompoz/kompoz.h>
#include <kompoz/statebadge.h>

#include <QApplication>
#include <QDateTime>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSlider>
#include <QSpinBox>
#include <QStyleFactory>
#include <QTimer>
#include <QTreeWidget>
#include <QVBoxLayout>

#include <sys/resource.h>

#include <cmath>

namespace {
double cpuSeconds()
{
    rusage usage {};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_utime.tv_sec) + double(usage.ru_utime.tv_usec) / 1e6 +
            double(usage.ru_stime.tv_sec) + double(usage.ru_stime.tv_usec) / 1e6;
}

double wallSeconds()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
            .count();
}

const ServiceConfig kServices[] = {
        // name, pool, maxConcurrent, timeoutMs, threshold, recoveryMs, halfOpen, failure%, median,
        // spread
        {QStringLiteral("payments"), QString(), 32, 300, 5, 5000, 1, 2, 45, 20},
        {QStringLiteral("inventory"), QStringLiteral("backend"), 48, 300, 5, 5000, 1, 4, 25, 10},
        {QStringLiteral("search"), QStringLiteral("backend"), 48, 300, 5, 5000, 1, 1, 80, 40},
};
} // namespace

void applyDashboardTheme()
{
    QApplication::setStyle(QStyleFactory::create(QStringLiteral("Fusion")));
    QPalette p;
    const QColor window(0x0d, 0x11, 0x17), base(0x16, 0x1b, 0x22), text(0xe6, 0xed, 0xf3);
    const QColor muted(0x8b, 0x94, 0x9e), button(0x21, 0x26, 0x2d), accent(0x2f, 0x81, 0xf7);
    p.setColor(QPalette::Window, window);
    p.setColor(QPalette::WindowText, text);
    p.setColor(QPalette::Base, QColor(0x0d, 0x11, 0x17));
    p.setColor(QPalette::AlternateBase, base);
    p.setColor(QPalette::Text, text);
    p.setColor(QPalette::PlaceholderText, muted);
    p.setColor(QPalette::Button, button);
    p.setColor(QPalette::ButtonText, text);
    p.setColor(QPalette::Highlight, accent);
    p.setColor(QPalette::HighlightedText, Qt::white);
    p.setColor(QPalette::ToolTipBase, base);
    p.setColor(QPalette::ToolTipText, text);
    p.setColor(QPalette::Mid, QColor(0x30, 0x36, 0x3d));
    p.setColor(QPalette::Dark, QColor(0x01, 0x04, 0x09));
    p.setColor(QPalette::Light, QColor(0x3d, 0x44, 0x4d));
    p.setColor(QPalette::Midlight, QColor(0x30, 0x36, 0x3d));
    p.setColor(QPalette::Shadow, Qt::black);
    p.setColor(QPalette::Link, accent);
    p.setColor(QPalette::Disabled, QPalette::Text, muted);
    p.setColor(QPalette::Disabled, QPalette::ButtonText, muted);
    p.setColor(QPalette::Disabled, QPalette::WindowText, muted);
    QApplication::setPalette(p);
    QFont f = QApplication::font();
    f.setFamilies({QStringLiteral("DejaVu Sans"), QStringLiteral("Noto Sans"), f.family()});
    f.setPointSizeF(9.5);
    QApplication::setFont(f);
}

DashboardWindow::DashboardWindow(QWidget *parent)
    : QMainWindow(parent), m_simulator(std::make_shared<Simulator>())
{
    setObjectName(QStringLiteral("dashboard"));
    setWindowTitle(tr("Kompoz dashboard"));
    m_clock.start();
    for (const ServiceConfig &config : kServices)
        m_panels.append(new ServicePanel(config, m_simulator));
    std::vector<LoadGenerator::Target> targets;
    for (ServicePanel *panel : std::as_const(m_panels))
        targets.push_back(panel->measured());
    m_load = std::make_unique<LoadGenerator>(std::move(targets));
    m_load->setRate(200);
    buildUi();

    for (int i = 0; i < m_panels.size(); ++i) {
        ServicePanel *panel = m_panels[i];
        connect(panel, &ServicePanel::breakerTransitioned, this,
                [this, name = panel->name()](kompoz::CircuitState from, kompoz::CircuitState to) {
                    logTransition(name, from, to);
                });
        // A rebuilt chain (retry or rate limit changed): new runs go there.
        connect(panel, &ServicePanel::pipelineChanged, this,
                [this, i, panel] { m_load->setTarget(i, panel->measured()); });
    }
    auto *ticker = new QTimer(this);
    connect(ticker, &QTimer::timeout, this, &DashboardWindow::updateStatus);
    ticker->start(1000);
    m_cpuTickS = cpuSeconds();
    m_wallTickS = wallSeconds();
    resize(1640, 1010);
}

DashboardWindow::~DashboardWindow()
{
    // The load stops first, then the simulator answers what is left while the panels (and the
    // combinators they own) still exist.
    m_load.reset();
    m_simulator->stop();
}

void DashboardWindow::buildUi()
{
    auto *central = new QWidget(this);
    auto *layout = new QVBoxLayout(central);
    layout->setContentsMargins(18, 14, 18, 14);
    layout->setSpacing(12);

    // Header: what this is, and the load generator.
    auto *header = new QHBoxLayout;
    auto *titles = new QVBoxLayout;
    titles->setSpacing(0);
    auto *title = new QLabel(tr("Kompoz dashboard"), central);
    QFont tf = title->font();
    tf.setPointSizeF(tf.pointSizeF() * 1.7);
    tf.setBold(true);
    title->setFont(tf);
    auto *subtitle = new QLabel(
            tr("Each service, outer to inner: withMetrics(rateLimited(retry(circuitBreaker("
               "withTimeout(limited(call))))))\nRate limit and retry are left out while off · "
               "inventory and search share the limited pool “backend”"),
            central);
    subtitle->setToolTip(
            tr("Outer to inner, as .NET's standard resilience handler: the rate limit at the "
               "door (a refused run costs nothing further in), the retry around the breaker "
               "(each attempt is counted by it, and an open breaker's rejection ends the "
               "retries), a timeout per attempt, the concurrency limit next to the call."));
    subtitle->setForegroundRole(QPalette::PlaceholderText);
    titles->addWidget(title);
    titles->addWidget(subtitle);
    header->addLayout(titles, 1);

    auto *loadBox = new QFrame(central);
    loadBox->setObjectName(QStringLiteral("loadGenerator"));
    auto *loadLayout = new QHBoxLayout(loadBox);
    loadLayout->setContentsMargins(0, 0, 0, 0);
    loadLayout->setSpacing(8);
    auto *loadCaption = new QLabel(tr("Load"), loadBox);
    loadCaption->setForegroundRole(QPalette::PlaceholderText);
    m_rateSlider = new QSlider(Qt::Horizontal, loadBox);
    m_rateSlider->setObjectName(QStringLiteral("rateSlider"));
    m_rateSlider->setRange(0, 3000);
    m_rateSlider->setMinimumWidth(180);
    m_rate = new QSpinBox(loadBox);
    m_rate->setObjectName(QStringLiteral("rate"));
    m_rate->setRange(0, 20000);
    m_rate->setSingleStep(50);
    m_rate->setSuffix(tr(" req/s"));
    m_rate->setKeyboardTracking(false);
    m_loadSwitch = new QPushButton(tr("Start load"), loadBox);
    m_loadSwitch->setObjectName(QStringLiteral("loadSwitch"));
    m_loadSwitch->setCheckable(true);
    m_loadSwitch->setMinimumWidth(100);
    loadLayout->addWidget(loadCaption);
    loadLayout->addWidget(m_rateSlider);
    loadLayout->addWidget(m_rate);
    loadLayout->addWidget(m_loadSwitch);
    header->addWidget(loadBox, 0, Qt::AlignVCenter);
    layout->addLayout(header);

    m_rateSlider->setValue(m_load->rate());
    m_rate->setValue(m_load->rate());
    connect(m_rateSlider, &QSlider::valueChanged, m_rate, &QSpinBox::setValue);
    connect(m_rate, &QSpinBox::valueChanged, this, [this](int v) {
        const QSignalBlocker block(m_rateSlider);
        m_rateSlider->setValue(v);
        m_load->setRate(v);
    });
    connect(m_loadSwitch, &QPushButton::toggled, this, [this](bool on) {
        m_load->setRunning(on);
        m_loadSwitch->setText(on ? tr("Stop load") : tr("Start load"));
    });

    // The cards.
    auto *cards = new QHBoxLayout;
    cards->setSpacing(12);
    for (ServicePanel *panel : std::as_const(m_panels))
        cards->addWidget(panel, 1);
    layout->addLayout(cards, 1);

    // The event log, and a status line under it.
    auto *logCaption = new QLabel(tr("STATE TRANSITIONS"), central);
    QFont cf = logCaption->font();
    cf.setPointSizeF(cf.pointSizeF() * 0.78);
    cf.setBold(true);
    cf.setLetterSpacing(QFont::PercentageSpacing, 108);
    logCaption->setFont(cf);
    logCaption->setForegroundRole(QPalette::PlaceholderText);
    layout->addWidget(logCaption);
    m_log = new QTreeWidget(central);
    m_log->setObjectName(QStringLiteral("eventLog"));
    m_log->setRootIsDecorated(false);
    m_log->setUniformRowHeights(true);
    m_log->setAlternatingRowColors(true);
    m_log->setHeaderLabels(
            {tr("Time"), tr("+s"), tr("Service"), tr("From"), tr("To"), tr("At the time")});
    m_log->header()->setStretchLastSection(true);
    m_log->setColumnWidth(0, 110);
    m_log->setColumnWidth(1, 70);
    m_log->setColumnWidth(2, 120);
    m_log->setColumnWidth(3, 110);
    m_log->setColumnWidth(4, 110);
    m_log->setFixedHeight(140);
    m_log->setFrameShape(QFrame::NoFrame);
    layout->addWidget(m_log);

    auto *status = new QHBoxLayout;
    m_status = new QLabel(central);
    m_status->setObjectName(QStringLiteral("status"));
    m_status->setForegroundRole(QPalette::PlaceholderText);
    m_cpu = new QLabel(central);
    m_cpu->setObjectName(QStringLiteral("cpu"));
    m_cpu->setForegroundRole(QPalette::PlaceholderText);
    status->addWidget(m_status, 1);
    status->addWidget(m_cpu);
    layout->addLayout(status);
    setCentralWidget(central);
    updateStatus();
}

QStringList DashboardWindow::scenarios()
{
    return {QStringLiteral("outage"), QStringLiteral("tour"), QStringLiteral("load2000"),
            QStringLiteral("policies")};
}

ServicePanel *DashboardWindow::panel(const QString &name) const
{
    for (ServicePanel *p : m_panels) {
        if (p->name() == name)
            return p;
    }
    return nullptr;
}

QList<ServicePanel *> DashboardWindow::panels() const { return m_panels; }

double DashboardWindow::elapsedS() const { return double(m_clock.nsecsElapsed()) / 1e9; }

void DashboardWindow::at(double seconds, const QString &what, std::function<void()> step)
{
    QTimer::singleShot(
            int(seconds * 1000), Qt::PreciseTimer, this, [this, what, step = std::move(step)] {
                if (!m_running)
                    return;
                step();
                if (!what.isEmpty()) {
                    m_steps << QStringLiteral("%1  %2").arg(elapsedS(), 6, 'f', 2).arg(what);
                    logNote(what);
                    Q_EMIT scenarioStep(what);
                }
            });
}

bool DashboardWindow::play(const QString &scenario, double durationS, int rate)
{
    if (!scenario.isEmpty() && !scenarios().contains(scenario))
        return false;
    m_scenario = scenario;
    m_running = true;
    m_transitions.clear();
    m_problems.clear();
    m_stepProblems.clear();
    m_steps.clear();
    m_log->clear();
    m_clock.restart();

    // Every scenario starts from the same pipeline: no retry, no rate limit, a consecutive-count
    // breaker, neither isolated nor disabled.
    const auto prepare = [this](int failureThreshold, int recoveryMs, int timeoutMs) {
        for (ServicePanel *p : std::as_const(m_panels)) {
            p->setBreakerSettings(failureThreshold, recoveryMs, 2);
            p->setTimeoutMs(timeoutMs);
            p->setOutage(false);
            p->setHang(false);
            p->setRetryAttempts(1);
            p->setRateLimit(0, 20);
            p->setBreakerMode(ServicePanel::BreakerMode::ConsecutiveFailures);
            p->setBreakerDisabled(false);
            p->setIsolated(false);
        }
    };
    double defaultDuration = 10;
    int defaultRate = m_load->rate();
    if (scenario == QLatin1String("outage") || scenario == QLatin1String("tour")) {
        // Short recovery and timeouts of its own, so the whole story (open, half-open trials
        // failing during the outage, closed after it) fits in a dozen seconds. The tour (for
        // the README's screenshot) tells it later and adds a flaky spell, to fill the charts.
        const bool tour = scenario == QLatin1String("tour");
        m_outageStartS = tour ? 18 : 3;
        m_outageEndS = m_outageStartS + 5;
        m_closedByS = m_outageEndS + 7;
        defaultDuration = tour ? 48 : 13;
        defaultRate = 300;
        prepare(5, 1000, 250);
        panel(QStringLiteral("payments"))->setFailureRate(1);
        panel(QStringLiteral("inventory"))->setFailureRate(3);
        panel(QStringLiteral("search"))->setFailureRate(1);
        panel(QStringLiteral("search"))->setLatency(70, 30);
        if (tour) {
            // One new policy per card, so the picture shows them all: retry for payments,
            // a failure-ratio breaker for inventory's flaky spell, a rate limit for search
            // that the 450 req/s stretch runs into.
            panel(QStringLiteral("payments"))->setRetryAttempts(3);
            panel(QStringLiteral("inventory"))
                    ->setBreakerMode(ServicePanel::BreakerMode::FailureRatio, 25);
            panel(QStringLiteral("search"))->setRateLimit(120, 20);
            at(6, tr("load: 450 req/s"), [this] { m_rate->setValue(450); });
            at(36, tr("inventory: failure rate 35 %"),
               [this] { panel(QStringLiteral("inventory"))->setFailureRate(35); });
            at(41, tr("inventory: failure rate 3 %"),
               [this] { panel(QStringLiteral("inventory"))->setFailureRate(3); });
            at(43, tr("load: 300 req/s"), [this] { m_rate->setValue(300); });
        }
        at(m_outageStartS, tr("payments: outage on"),
           [this] { panel(QStringLiteral("payments"))->setOutage(true); });
        at(m_outageEndS, tr("payments: outage off"),
           [this] { panel(QStringLiteral("payments"))->setOutage(false); });
        at(m_outageEndS + 1, tr("search: hang on"),
           [this] { panel(QStringLiteral("search"))->setHang(true); });
        at(m_outageEndS + 2, tr("search: hang off"),
           [this] { panel(QStringLiteral("search"))->setHang(false); });
    } else if (scenario == QLatin1String("load2000")) {
        defaultDuration = 20;
        defaultRate = 2000;
        prepare(20, 2000, 500);
        for (ServicePanel *p : std::as_const(m_panels)) {
            p->setFailureRate(1);
            p->setLatency(20, 8);
        }
        panel(QStringLiteral("payments"))->setMaxConcurrent(200);
        panel(QStringLiteral("inventory"))->setMaxConcurrent(400);
    } else if (scenario == QLatin1String("policies")) {
        // The policies one after another, each checked: payments retries its flaky calls,
        // inventory sits behind a rate limit, search's breaker opens by failure ratio in an
        // outage; then both chains are rebuilt under load, payments is isolated by hand and
        // reset, search goes back to counting failures in a row and inventory's breaker is
        // disabled for a second.
        defaultDuration = 13;
        defaultRate = 300;
        prepare(5, 1000, 250);
        ServicePanel *payments = panel(QStringLiteral("payments"));
        ServicePanel *inventory = panel(QStringLiteral("inventory"));
        ServicePanel *search = panel(QStringLiteral("search"));
        payments->setFailureRate(10);
        inventory->setFailureRate(3);
        search->setFailureRate(1);
        search->setLatency(70, 30);
        payments->setRetryAttempts(3);
        inventory->setRateLimit(60, 10);
        search->setBreakerMode(ServicePanel::BreakerMode::FailureRatio, 50);
        at(3, tr("search: outage on"), [search] { search->setOutage(true); });
        at(5, tr("search: outage off"), [search] { search->setOutage(false); });
        at(6, tr("payments: retry 4 attempts · inventory: rate limit 80/s"), [payments, inventory] {
            payments->setRetryAttempts(4);
            inventory->setRateLimit(80, 10);
        });
        at(7, tr("payments: isolated"), [payments] { payments->setIsolated(true); });
        at(8, tr("payments: reset"), [payments] { payments->setIsolated(false); });
        at(9, tr("search: failures in a row"), [this, search] {
            const kompoz::CircuitBreakerStats before = search->breaker().stats();
            search->setBreakerMode(ServicePanel::BreakerMode::ConsecutiveFailures);
            const kompoz::CircuitBreakerStats after = search->breaker().stats();
            if (after.successCount < before.successCount ||
                after.rejectedCount < before.rejectedCount)
                m_stepProblems << tr("search: the new breaker did not take over the counts");
        });
        at(10, tr("inventory: breaker disabled"),
           [inventory] { inventory->setBreakerDisabled(true); });
        at(11, tr("inventory: breaker enabled"),
           [inventory] { inventory->setBreakerDisabled(false); });
    }
    m_durationS = durationS > 0 ? durationS : defaultDuration;
    m_targetRate = rate >= 0 ? rate : defaultRate;
    m_rate->setValue(m_targetRate);

    m_sentAtStart = m_load->sent();
    m_cpuStartS = cpuSeconds();
    m_wallStartS = wallSeconds();
    m_loadSwitch->setChecked(true);
    logNote(scenario.isEmpty()
                    ? tr("run started at %1 req/s").arg(m_targetRate)
                    : tr("scenario “%1” started at %2 req/s").arg(scenario).arg(m_targetRate));
    if (std::isfinite(m_durationS) && m_durationS < 1e6) // an interactive run has no end
        QTimer::singleShot(int(m_durationS * 1000), Qt::PreciseTimer, this,
                           &DashboardWindow::finishRun);
    updateStatus();
    return true;
}

void DashboardWindow::finishRun()
{
    m_sentAtEnd = m_load->sent();
    m_loadSeconds = wallSeconds() - m_wallStartS;
    m_cpuPercent = 100.0 * (cpuSeconds() - m_cpuStartS) / qMax(1e-6, m_loadSeconds);
    m_loadSwitch->setChecked(false);
    logNote(tr("load stopped"));
    waitForQuiet(60);
}

void DashboardWindow::waitForQuiet(int attemptsLeft)
{
    // Calls in flight end (or time out) and their counts reach the views before judging.
    // Every request sent has been answered (retry delays and rate-limit queues included).
    bool quiet = answered() == m_load->sent();
    for (ServicePanel *p : std::as_const(m_panels)) {
        quiet = quiet && p->limited().pool()->active() == 0 && p->limited().pool()->queued() == 0;
        quiet = quiet && (!p->rateLimiter() || p->rateLimiter()->queued() == 0);
    }
    if (!quiet && attemptsLeft > 0) {
        QTimer::singleShot(50, this, [this, attemptsLeft] { waitForQuiet(attemptsLeft - 1); });
        return;
    }
    // Two view refresh intervals: the last coalesced notifications have been drawn.
    QTimer::singleShot(300, this, [this] {
        evaluate();
        m_running = false;
        updateStatus();
        Q_EMIT scenarioFinished(asExpected());
    });
}

qint64 DashboardWindow::answered() const
{
    qint64 n = 0;
    for (ServicePanel *p : m_panels) {
        for (int o = int(kompoz::Outcome::Success); o <= int(kompoz::Outcome::Canceled); ++o)
            n += p->measured().metrics()->totalCount(kompoz::Outcome(o));
    }
    return n;
}

double DashboardWindow::firstTransition(const QString &service, kompoz::CircuitState to,
                                        double afterS,
                                        std::optional<kompoz::CircuitState> from) const
{
    for (const Transition &t : m_transitions) {
        if (t.service == service && t.to == to && t.atS >= afterS && (!from || t.from == *from))
            return t.atS;
    }
    return -1;
}

void DashboardWindow::evaluate()
{
    m_problems = m_stepProblems;
    if (!m_scenario.isEmpty() && answered() != m_load->sent())
        m_problems << tr("%1 requests sent, %2 answered").arg(m_load->sent()).arg(answered());
    // A run without a scenario has no story to check: a person may have switched an outage on.
    const QList<ServicePanel *> judged = m_scenario.isEmpty() ? QList<ServicePanel *>() : m_panels;
    for (ServicePanel *p : judged) {
        if (p->breaker().state() != kompoz::CircuitState::Closed)
            m_problems << tr("%1 ended %2, not Closed")
                                  .arg(p->name(), kompoz::toString(p->breaker().state()));
    }
    if (m_scenario == QLatin1String("outage") || m_scenario == QLatin1String("tour")) {
        const QString payments = QStringLiteral("payments");
        const double opened = firstTransition(payments, kompoz::CircuitState::Open);
        const double closedAfter = firstTransition(payments, kompoz::CircuitState::Closed,
                                                   m_outageEndS, kompoz::CircuitState::HalfOpen);
        if (opened >= 0 && opened < m_outageStartS)
            m_problems << tr("payments opened at %1 s, before the outage").arg(opened, 0, 'f', 2);
        if (opened < 0 || opened > m_outageEndS)
            m_problems << tr("payments did not open during the outage (%1 s to %2 s)")
                                  .arg(m_outageStartS)
                                  .arg(m_outageEndS);
        if (closedAfter < 0)
            m_problems << tr("payments did not close (Half-open → Closed) after the outage");
        else if (closedAfter > m_closedByS)
            m_problems << tr("payments closed only at %1 s (after %2 s)")
                                  .arg(closedAfter, 0, 'f', 2)
                                  .arg(m_closedByS);
    } else if (m_scenario == QLatin1String("load2000")) {
        const double achieved = double(m_sentAtEnd - m_sentAtStart) / qMax(1e-6, m_loadSeconds);
        if (achieved < 0.9 * m_targetRate)
            m_problems << tr("sent %1 req/s, under 90 % of %2")
                                  .arg(achieved, 0, 'f', 0)
                                  .arg(m_targetRate);
        if (m_cpuPercent >= 100)
            m_problems << tr("CPU use %1 % of one core, not under one core")
                                  .arg(m_cpuPercent, 0, 'f', 1);
    } else if (m_scenario == QLatin1String("policies")) {
        evaluatePolicies();
    }
}

void DashboardWindow::evaluatePolicies()
{
    using kompoz::CircuitState;
    const auto within = [this](const QString &what, double atS, double fromS, double toS) {
        if (atS < fromS || atS > toS)
            m_problems << tr("%1 at %2 s, not between %3 s and %4 s")
                                  .arg(what, atS < 0 ? tr("never") : QString::number(atS, 'f', 2))
                                  .arg(fromS)
                                  .arg(toS);
    };
    const QString search = QStringLiteral("search"), payments = QStringLiteral("payments");
    within(tr("search opened (failure ratio)"), firstTransition(search, CircuitState::Open), 3, 5);
    within(tr("search closed after its outage"),
           firstTransition(search, CircuitState::Closed, 5, CircuitState::HalfOpen), 5, 9);
    within(tr("payments opened (isolated)"), firstTransition(payments, CircuitState::Open, 7), 7,
           7.5);
    within(tr("payments closed (reset)"), firstTransition(payments, CircuitState::Closed, 8), 8,
           8.5);
    const kompoz::RetryPolicy *retry = panel(payments)->retryPolicy();
    if (!retry || retry->maxAttempts() != 4 || retry->retryCount() == 0 ||
        retry->recoveredCount() == 0)
        m_problems << tr("payments: no retries recovered with 4 attempts");
    const kompoz::RateLimiter *limiter = panel(QStringLiteral("inventory"))->rateLimiter();
    if (!limiter || limiter->permits() != 80 || limiter->rejectedCount() == 0 ||
        limiter->delayedCount() == 0)
        m_problems << tr("inventory: the 80/s rate limit neither delayed nor rejected runs");
    if (panel(search)->breakerMode() != ServicePanel::BreakerMode::ConsecutiveFailures)
        m_problems << tr("search: still in failure-ratio mode");
    for (ServicePanel *p : std::as_const(m_panels)) {
        if (p->breaker().breaker()->isIsolated() || p->breaker().breaker()->isDisabled())
            m_problems << tr("%1 ended isolated or disabled").arg(p->name());
    }
}

void DashboardWindow::logTransition(const QString &service, kompoz::CircuitState from,
                                    kompoz::CircuitState to)
{
    const double at = elapsedS();
    if (m_running && m_transitions.size() < 100000)
        m_transitions.push_back({at, service, from, to});
    const ServicePanel *p = panel(service);
    const kompoz::CircuitBreakerStats s = p->breaker().stats();
    auto *item = new QTreeWidgetItem({QTime::currentTime().toString(QStringLiteral("HH:mm:ss.zzz")),
                                      QString::number(at, 'f', 2), service,
                                      kompoz::StateBadge::label(from),
                                      kompoz::StateBadge::label(to),
                                      tr("%1 consecutive failures · %2 successes · %3 rejected")
                                              .arg(s.failureCount)
                                              .arg(s.successCount)
                                              .arg(s.rejectedCount)});
    item->setForeground(3, kompoz::StateBadge::color(from));
    item->setForeground(4, kompoz::StateBadge::color(to));
    QFont bold = item->font(4);
    bold.setBold(true);
    item->setFont(4, bold);
    m_log->insertTopLevelItem(0, item);
    // A long session must not grow without bound.
    while (m_log->topLevelItemCount() > 500)
        delete m_log->takeTopLevelItem(m_log->topLevelItemCount() - 1);
}

void DashboardWindow::logNote(const QString &text)
{
    auto *item = new QTreeWidgetItem({QTime::currentTime().toString(QStringLiteral("HH:mm:ss.zzz")),
                                      QString::number(elapsedS(), 'f', 2), QString(), QString(),
                                      QString(), text});
    for (int c = 0; c < 6; ++c)
        item->setForeground(c, palette().color(QPalette::PlaceholderText));
    m_log->insertTopLevelItem(0, item);
}

void DashboardWindow::updateStatus()
{
    const double cpu = cpuSeconds(), wall = wallSeconds();
    const double percent = 100.0 * (cpu - m_cpuTickS) / qMax(1e-6, wall - m_wallTickS);
    m_cpuTickS = cpu;
    m_wallTickS = wall;
    m_cpu->setText(tr("CPU %1 % of one core").arg(percent, 0, 'f', 1));
    QString text;
    if (!m_scenario.isEmpty())
        text = m_running ? tr("Scenario “%1” · %2 s of %3 s")
                                   .arg(m_scenario)
                                   .arg(elapsedS(), 0, 'f', 0)
                                   .arg(m_durationS, 0, 'f', 0)
                         : tr("Scenario “%1” finished: %2")
                                   .arg(m_scenario,
                                        asExpected() ? tr("as expected") : m_problems.join(u"; "));
    else
        text = tr("Interactive · %1 req/s · %2 requests sent")
                       .arg(m_load->isRunning() ? m_load->rate() : 0)
                       .arg(m_load->sent());
    m_status->setText(text);
}

QString DashboardWindow::summary() const
{
    QString out;
    const auto line = [&out](const QString &s) { out += s + QLatin1Char('\n'); };
    line(tr("kompoz-dashboard: %1, %2 s, finished %3")
                 .arg(m_scenario.isEmpty() ? tr("interactive run")
                                           : tr("scenario “%1”").arg(m_scenario))
                 .arg(m_durationS, 0, 'f', 1)
                 .arg(QDateTime::currentDateTimeUtc().toString(Qt::ISODate)));
    line(asExpected() ? tr("Result: as expected") : tr("Result: NOT as expected"));
    for (const QString &p : m_problems)
        line(QStringLiteral("  - ") + p);
    line(QString());
    line(tr("Load: %1 req/s target, %2 sent in %3 s (%4 req/s); CPU %5 % of one core "
            "(getrusage user+sys over the load period, %6 cores online)")
                 .arg(m_targetRate)
                 .arg(m_sentAtEnd - m_sentAtStart)
                 .arg(m_loadSeconds, 0, 'f', 1)
                 .arg(double(m_sentAtEnd - m_sentAtStart) / qMax(1e-6, m_loadSeconds), 0, 'f', 0)
                 .arg(m_cpuPercent, 0, 'f', 1)
                 .arg(QThread::idealThreadCount()));
    line(QString());
    line(tr("Script:"));
    for (const QString &s : m_steps)
        line(QStringLiteral("  ") + s);
    line(QString());
    line(tr("State transitions (seconds since start):"));
    if (m_transitions.empty())
        line(tr("  none"));
    for (const Transition &t : m_transitions)
        line(QStringLiteral("  %1  %2  %3 -> %4")
                     .arg(t.atS, 6, 'f', 2)
                     .arg(t.service, -10)
                     .arg(kompoz::toString(t.from), -8)
                     .arg(kompoz::toString(t.to)));
    line(QString());
    QString header = QStringLiteral("%1").arg(tr("Counts"), -26);
    for (ServicePanel *p : m_panels)
        header += QStringLiteral("%1").arg(p->name(), 11);
    line(header);
    const auto row = [&](const QString &label,
                         const std::function<QString(ServicePanel *)> &value) {
        QString s = QStringLiteral("  %1").arg(label, -24);
        for (ServicePanel *p : m_panels)
            s += QStringLiteral("%1").arg(value(p), 11);
        line(s);
    };
    using kompoz::Outcome;
    row(tr("state"), [](ServicePanel *p) { return kompoz::toString(p->breaker().state()); });
    row(tr("successes"),
        [](ServicePanel *p) { return QString::number(p->breaker().stats().successCount); });
    row(tr("consecutive failures"),
        [](ServicePanel *p) { return QString::number(p->breaker().stats().failureCount); });
    row(tr("rejected (breaker)"),
        [](ServicePanel *p) { return QString::number(p->breaker().stats().rejectedCount); });
    row(tr("timed out"),
        [](ServicePanel *p) { return QString::number(p->timeout().policy()->timedOutCount()); });
    row(tr("peak in flight (pool)"),
        [](ServicePanel *p) { return QString::number(p->limited().pool()->peakActive()); });
    row(tr("breaker mode"), [](ServicePanel *p) {
        const kompoz::CircuitBreaker *b = p->breaker().breaker();
        if (b->isIsolated())
            return tr("isolated");
        if (b->isDisabled())
            return tr("disabled");
        const double ratio = b->options().failureRatio;
        return ratio > 0 ? tr("ratio %1%").arg(ratio * 100, 0, 'f', 0) : tr("in a row");
    });
    // A count of the panel's retry policy or rate limiter; "off" while the layer is left out.
    const auto policyRow = [&](const QString &label, auto object, auto count) {
        row(label, [object, count](ServicePanel *p) {
            const auto *o = (p->*object)();
            return o ? QString::number((o->*count)()) : tr("off");
        });
    };
    using kompoz::RateLimiter;
    using kompoz::RetryPolicy;
    policyRow(tr("retry: attempts"), &ServicePanel::retryPolicy, &RetryPolicy::maxAttempts);
    policyRow(tr("retry: retries"), &ServicePanel::retryPolicy, &RetryPolicy::retryCount);
    policyRow(tr("retry: recovered"), &ServicePanel::retryPolicy, &RetryPolicy::recoveredCount);
    policyRow(tr("retry: exhausted"), &ServicePanel::retryPolicy, &RetryPolicy::exhaustedCount);
    policyRow(tr("rate limit: per second"), &ServicePanel::rateLimiter, &RateLimiter::permits);
    policyRow(tr("rate limit: rejected"), &ServicePanel::rateLimiter, &RateLimiter::rejectedCount);
    policyRow(tr("rate limit: delayed"), &ServicePanel::rateLimiter, &RateLimiter::delayedCount);
    const std::pair<QString, Outcome> outcomes[] = {
            {tr("runs: success"), Outcome::Success},    {tr("runs: failure"), Outcome::Failure},
            {tr("runs: timed out"), Outcome::TimedOut}, {tr("runs: rejected"), Outcome::Rejected},
            {tr("runs: error"), Outcome::Error},
    };
    for (const auto &[label, outcome] : outcomes) {
        row(label, [outcome = outcome](ServicePanel *p) {
            return QString::number(p->measured().metrics()->totalCount(outcome));
        });
    }
    row(tr("p50 / p99 ms (last 10 s)"), [](ServicePanel *p) {
        return QStringLiteral("%1/%2")
                .arg(p->measured().metrics()->p50LatencyMs(), 0, 'f', 0)
                .arg(p->measured().metrics()->p99LatencyMs(), 0, 'f', 0);
    });
    return out;
}
