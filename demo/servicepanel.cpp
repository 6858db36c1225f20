// SPDX-License-Identifier: MIT
#include "servicepanel.h"

#include "toggleswitch.h"

#include <kompoz/circuitbreakerview.h>

#include <QCheckBox>
#include <QComboBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QJsonObject>
#include <QLabel>
#include <QPainter>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSlider>
#include <QSpinBox>
#include <QVBoxLayout>

using namespace std::chrono_literals;

namespace {
QSpinBox *spinBox(QWidget *parent, const QString &objectName, int min, int max, int step,
                  const QString &suffix)
{
    auto *box = new QSpinBox(parent);
    box->setObjectName(objectName);
    box->setRange(min, max);
    box->setSingleStep(step);
    box->setSuffix(suffix);
    box->setAccelerated(true);
    box->setKeyboardTracking(false); // apply a typed value once, not digit by digit
    return box;
}

QLabel *sectionLabel(const QString &text, QWidget *parent)
{
    auto *label = new QLabel(text.toUpper(), parent);
    QFont f = label->font();
    f.setPointSizeF(f.pointSizeF() * 0.78);
    f.setBold(true);
    f.setLetterSpacing(QFont::PercentageSpacing, 108);
    label->setFont(f);
    label->setForegroundRole(QPalette::PlaceholderText);
    return label;
}

// Failure-ratio mode looks at the last 100 calls, once 20 are in the window.
constexpr int kRatioWindow = 100;
constexpr int kRatioMinimumCalls = 20;

kompoz::AsyncCombinator<int> serviceCall(std::shared_ptr<ServiceLink> link, const QString &name)
{
    // No context object: the call only queues a deadline, so any thread may make it.
    return kompoz::asyncRule<int>([link = std::move(link)](int) { return link->call(); }, name);
}
} // namespace

ServicePanel::ServicePanel(const ServiceConfig &config, std::shared_ptr<Simulator> simulator,
                           QWidget *parent)
    : QFrame(parent),
      m_service(new SimulatedService(config.name, std::move(simulator), this)),
      m_link(std::make_shared<ServiceLink>(m_service)),
      m_limited(kompoz::limited(serviceCall(m_link, config.name), config.maxConcurrent,
                                config.poolName)),
      m_timeout(kompoz::withTimeout(kompoz::AsyncCombinator<int>(m_limited),
                                    std::chrono::milliseconds(config.timeoutMs))),
      m_breaker(kompoz::circuitBreaker(
              kompoz::AsyncCombinator<int>(m_timeout), config.failureThreshold,
              std::chrono::milliseconds(config.recoveryMs), config.halfOpenMaxCalls)),
      m_measured(kompoz::withMetrics(kompoz::AsyncCombinator<int>(m_breaker)))
{
    setObjectName(config.name);
    m_breaker.breaker()->setObjectName(config.name);
    m_service->setFailureRate(config.failureRate);
    m_service->setLatencyMedianMs(config.latencyMedianMs);
    m_service->setLatencySpreadMs(config.latencySpreadMs);

    // Cards a shade lighter than the window, as the panel paints itself.
    QPalette pal = palette();
    pal.setColor(QPalette::Window, QColor(0x16, 0x1b, 0x22));
    pal.setColor(QPalette::Base, QColor(0x16, 0x1b, 0x22));
    setPalette(pal);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 12);
    layout->setSpacing(4);
    m_view = new kompoz::CircuitBreakerView(m_breaker.breaker(), m_limited.pool(),
                                            m_measured.metrics(), m_timeout.policy(), this);
    m_view->setFrameShape(QFrame::NoFrame);
    m_view->setAutoFillBackground(false);
    layout->addWidget(m_view, 1);
    layout->addWidget(buildControls(config));

    bindBreaker();
    connect(m_limited.pool(), &kompoz::ConcurrencyPool::maxConcurrentChanged, this,
            &ServicePanel::syncFromLibrary);
    connect(m_timeout.policy(), &kompoz::TimeoutPolicy::timeoutChanged, this,
            &ServicePanel::syncFromLibrary);
    rebuildPipeline(true, true);
    syncFromLibrary();
}

ServicePanel::~ServicePanel() { m_link->cut(); }

QFuture<bool> ServiceLink::call()
{
    std::lock_guard lock(m_mutex);
    return m_service ? m_service->call() : QtFuture::makeReadyFuture(false);
}

void ServiceLink::cut()
{
    std::lock_guard lock(m_mutex);
    m_service = nullptr;
}

QWidget *ServicePanel::buildControls(const ServiceConfig &config)
{
    auto *controls = new QWidget(this);
    auto *grid = new QGridLayout(controls);
    grid->setContentsMargins(14, 0, 14, 0);
    grid->setHorizontalSpacing(10);
    grid->setVerticalSpacing(5);

    // The service: how it behaves.
    grid->addWidget(sectionLabel(tr("Simulated service"), controls), 0, 0, 1, 3);
    grid->addWidget(new QLabel(tr("Failure rate"), controls), 1, 0);
    m_failureRate = new QSlider(Qt::Horizontal, controls);
    m_failureRate->setObjectName(QStringLiteral("failureRate"));
    m_failureRate->setRange(0, 100);
    m_failureRate->setValue(config.failureRate);
    m_failureRateText = new QLabel(controls);
    m_failureRateText->setMinimumWidth(
            QFontMetrics(font()).horizontalAdvance(QStringLiteral("100 %")) + 4);
    m_failureRateText->setAlignment(Qt::AlignRight | Qt::AlignVCenter);
    m_failureRateText->setText(QString::number(config.failureRate) + QLatin1String(" %"));
    grid->addWidget(m_failureRate, 1, 1);
    grid->addWidget(m_failureRateText, 1, 2);
    connect(m_failureRate, &QSlider::valueChanged, this, [this](int v) {
        m_service->setFailureRate(v);
        m_failureRateText->setText(QString::number(v) + QLatin1String(" %"));
    });

    grid->addWidget(new QLabel(tr("Latency"), controls), 2, 0);
    auto *latency = new QHBoxLayout;
    m_median = spinBox(controls, QStringLiteral("latencyMedian"), 0, 10000, 5, tr(" ms"));
    m_median->setValue(config.latencyMedianMs);
    m_median->setToolTip(tr("Median latency"));
    m_spread = spinBox(controls, QStringLiteral("latencySpread"), 0, 10000, 5, tr(" ms"));
    m_spread->setValue(config.latencySpreadMs);
    m_spread->setToolTip(tr("Spread (about one standard deviation above the median)"));
    latency->addWidget(m_median, 1);
    latency->addWidget(new QLabel(QStringLiteral("±"), controls));
    latency->addWidget(m_spread, 1);
    grid->addLayout(latency, 2, 1, 1, 2);
    connect(m_median, &QSpinBox::valueChanged, m_service, &SimulatedService::setLatencyMedianMs);
    connect(m_spread, &QSpinBox::valueChanged, m_service, &SimulatedService::setLatencySpreadMs);

    auto *switches = new QHBoxLayout;
    m_outage = new ToggleSwitch(tr("Outage"), QColor(0xd9, 0x3b, 0x3b), controls);
    m_outage->setObjectName(QStringLiteral("outage"));
    m_outage->setToolTip(tr("Every call fails"));
    m_hang = new ToggleSwitch(tr("Hang"), QColor(0xf0, 0x8c, 0x2e), controls);
    m_hang->setObjectName(QStringLiteral("hang"));
    m_hang->setToolTip(tr("Calls never answer: only the timeout ends them"));
    switches->addWidget(m_outage);
    switches->addSpacing(12);
    switches->addWidget(m_hang);
    switches->addStretch(1);
    grid->addLayout(switches, 3, 0, 1, 3);
    connect(m_outage, &QAbstractButton::toggled, m_service, &SimulatedService::setOutage);
    connect(m_hang, &QAbstractButton::toggled, m_service, &SimulatedService::setHang);

    buildBreakerControls(grid, controls);

    // The resilience settings, in the order a run meets them (outer first). The breaker's,
    // the timeout's and the pool's apply to the live objects; the rate limit's and the retry's
    // rebuild the chain above the breaker.
    grid->addWidget(sectionLabel(tr("Resilience, outer to inner"), controls), 0, 4, 1, 2);
    m_rateLimit = spinBox(controls, QStringLiteral("rateLimit"), 0, 100000, 10, tr(" /s"));
    m_rateLimit->setSpecialValueText(tr("off"));
    m_rateLimit->setValue(config.ratePerSecond);
    m_rateLimit->setToolTip(tr("Runs admitted per second (token bucket, burst a tenth of "
                               "that); 0: no rate limit"));
    m_rateQueue = spinBox(controls, QStringLiteral("rateQueueLimit"), 0, 100000, 5, QString());
    m_rateQueue->setValue(config.rateQueueLimit);
    m_rateQueue->setToolTip(tr("Runs that may wait for the rate limit; more are rejected"));
    m_retryAttempts = spinBox(controls, QStringLiteral("retryAttempts"), 1, 20, 1, QString());
    m_retryAttempts->setSpecialValueText(tr("off"));
    m_retryAttempts->setValue(config.retryAttempts);
    m_retryAttempts->setToolTip(tr("Attempts per run, the first included (1: no retry). "
                                   "Failures and timeouts are retried after 20 ms, 40 ms, ... "
                                   "(+ up to 10 ms jitter); an open breaker's rejection is not"));
    m_threshold = spinBox(controls, QStringLiteral("failureThreshold"), 1, 1000, 1, QString());
    m_recovery = spinBox(controls, QStringLiteral("recoveryTimeout"), 0, 600000, 250, tr(" ms"));
    m_halfOpen = spinBox(controls, QStringLiteral("halfOpenMaxCalls"), 1, 1000, 1, QString());
    m_timeoutMs = spinBox(controls, QStringLiteral("timeout"), 1, 600000, 50, tr(" ms"));
    m_maxConcurrent = spinBox(controls, QStringLiteral("maxConcurrent"), 1, 10000, 1, QString());
    const std::pair<QString, QSpinBox *> rows[] = {
            {tr("Rate limit"), m_rateLimit},
            {tr("Rate queue"), m_rateQueue},
            {tr("Retry attempts"), m_retryAttempts},
            {tr("Failure threshold"), m_threshold},
            {tr("Recovery timeout"), m_recovery},
            {tr("Half-open trials"), m_halfOpen},
            {tr("Timeout"), m_timeoutMs},
            {tr("Max concurrent"), m_maxConcurrent},
    };
    if (!config.poolName.isEmpty())
        m_maxConcurrent->setToolTip(tr("Shared: the limited pool “%1”").arg(config.poolName));
    int row = 1;
    for (const auto &[text, box] : rows) {
        box->setMaximumWidth(120);
        grid->addWidget(new QLabel(text, controls), row, 4);
        grid->addWidget(box, row, 5);
        ++row;
    }
    grid->setColumnMinimumWidth(3, 8);
    grid->setColumnStretch(1, 1);

    connect(m_threshold, &QSpinBox::valueChanged, this,
            [this](int v) { m_breaker.breaker()->setFailureThreshold(v); });
    connect(m_recovery, &QSpinBox::valueChanged, this,
            [this](int v) { m_breaker.breaker()->setRecoveryTimeoutMs(v); });
    connect(m_halfOpen, &QSpinBox::valueChanged, this,
            [this](int v) { m_breaker.breaker()->setHalfOpenMaxCalls(v); });
    connect(m_timeoutMs, &QSpinBox::valueChanged, this,
            [this](int v) { m_timeout.policy()->setTimeoutMs(v); });
    connect(m_maxConcurrent, &QSpinBox::valueChanged, this,
            [this](int v) { m_limited.pool()->setMaxConcurrent(v); });
    connect(m_rateLimit, &QSpinBox::valueChanged, this, [this] { rebuildPipeline(false, true); });
    connect(m_rateQueue, &QSpinBox::valueChanged, this, [this] {
        if (m_rateLimit->value() > 0)
            rebuildPipeline(false, true);
    });
    connect(m_retryAttempts, &QSpinBox::valueChanged, this,
            [this] { rebuildPipeline(true, false); });
    return controls;
}

void ServicePanel::buildBreakerControls(QGridLayout *grid, QWidget *controls)
{
    // The breaker's mode and manual control, under the service's behaviour.
    grid->addWidget(sectionLabel(tr("Breaker"), controls), 4, 0, 1, 3);
    grid->addWidget(new QLabel(tr("Mode"), controls), 5, 0);
    auto *mode = new QHBoxLayout;
    m_mode = new QComboBox(controls);
    m_mode->setObjectName(QStringLiteral("breakerModeSelect"));
    m_mode->addItem(tr("Consecutive"));
    m_mode->addItem(tr("Failure ratio"));
    m_mode->setToolTip(tr("Consecutive: opens after “Failure threshold” failures in a row. "
                          "Failure ratio: opens when that share of the last %1 calls "
                          "failed (once %2 are in the window). Switching makes a new breaker "
                          "that takes over the state and counts.")
                               .arg(kRatioWindow)
                               .arg(kRatioMinimumCalls));
    m_ratio = spinBox(controls, QStringLiteral("failureRatioThreshold"), 1, 100, 5, tr(" %"));
    m_ratio->setValue(50);
    m_ratio->setToolTip(tr("Failure ratio that opens the breaker (failure-ratio mode)"));
    mode->addWidget(m_mode, 1);
    mode->addWidget(m_ratio);
    grid->addLayout(mode, 5, 1, 1, 2);
    connect(m_mode, &QComboBox::currentIndexChanged, this, [this](int index) {
        if (index != int(breakerMode()))
            replaceBreaker();
    });
    connect(m_ratio, &QSpinBox::valueChanged, this, [this](int percent) {
        if (breakerMode() == BreakerMode::FailureRatio &&
            percent != qRound(m_breaker.breaker()->options().failureRatio * 100))
            replaceBreaker();
    });

    auto *buttons = new QHBoxLayout;
    m_reset = new QPushButton(tr("Reset breaker"), controls);
    m_reset->setObjectName(QStringLiteral("resetBreaker"));
    m_reset->setToolTip(tr("Back to Closed (CircuitBreaker::reset()); ends an isolation"));
    m_isolate = new QPushButton(tr("Isolate"), controls);
    m_isolate->setObjectName(QStringLiteral("isolateBreaker"));
    m_isolate->setCheckable(true);
    m_isolate->setToolTip(tr("Hold it Open, rejecting every run, until reset "
                             "(CircuitBreaker::isolate())"));
    m_disabled = new ToggleSwitch(tr("Disabled"), QColor(0xd2, 0x99, 0x22), controls);
    m_disabled->setObjectName(QStringLiteral("disableBreaker"));
    m_disabled->setToolTip(tr("Let every run through and only count: it never opens "
                              "(CircuitBreaker::setDisabled())"));
    buttons->addWidget(m_reset);
    buttons->addWidget(m_isolate);
    buttons->addStretch(1);
    grid->addLayout(buttons, 6, 0, 1, 3);
    grid->addWidget(m_disabled, 7, 0, 1, 3, Qt::AlignLeft);
    connect(m_reset, &QPushButton::clicked, this, [this] { m_breaker.reset(); });
    connect(m_isolate, &QPushButton::clicked, this, [this](bool on) {
        if (on)
            m_breaker.breaker()->isolate();
        else
            m_breaker.reset();
    });
    connect(m_disabled, &QAbstractButton::toggled, this,
            [this](bool on) { m_breaker.breaker()->setDisabled(on); });
}

void ServicePanel::bindBreaker()
{
    kompoz::CircuitBreaker *b = m_breaker.breaker();
    connect(b, &kompoz::CircuitBreaker::settingsChanged, this, &ServicePanel::syncFromLibrary);
    connect(b, &kompoz::CircuitBreaker::modeChanged, this, &ServicePanel::syncFromLibrary);
    connect(b, &kompoz::CircuitBreaker::transitioned, this, &ServicePanel::breakerTransitioned);
}

void ServicePanel::replaceBreaker()
{
    // The mode is fixed when a breaker is made: make one with the new mode and the live
    // settings, give it the old one's state and counts, and put it where the old one was.
    const std::shared_ptr<kompoz::CircuitBreaker> old = m_breaker.sharedBreaker();
    kompoz::CircuitBreakerOptions o = old->options();
    o.failureRatio = m_mode->currentIndex() == int(BreakerMode::FailureRatio)
            ? m_ratio->value() / 100.0
            : 0;
    o.window = kompoz::CircuitBreakerOptions::WindowKind::Count;
    o.windowSize = kRatioWindow;
    o.minimumThroughput = kRatioMinimumCalls;
    o.onStateChange = nullptr;
    const QJsonObject state = old->saveState();
    disconnect(old.get(), nullptr, this, nullptr);
    m_breaker = kompoz::circuitBreaker(kompoz::AsyncCombinator<int>(m_timeout), o);
    m_breaker.breaker()->setObjectName(name());
    QString error;
    if (!m_breaker.breaker()->restoreState(state, &error))
        qWarning("%s: %s", qPrintable(name()), qPrintable(error));
    bindBreaker();
    m_view->setBreaker(m_breaker.breaker());
    rebuildPipeline(true, false);
    syncFromLibrary();
}

void ServicePanel::rebuildPipeline(bool newRetry, bool newRateLimiter)
{
    // withMetrics(rateLimited(retry(circuitBreaker(...)))): the rate limit at the door, so a
    // refused run costs nothing further in; the retry outside the breaker, so every attempt is
    // counted by it and an open breaker stops the retries.
    kompoz::AsyncCombinator<int> chain(m_breaker);
    if (newRetry) {
        m_retry.reset();
        if (m_retryAttempts->value() > 1) {
            kompoz::RetryOptions<int> o;
            o.maxAttempts = m_retryAttempts->value();
            o.backoff = 20ms;
            o.exponential = true;
            o.jitter = 10ms;
            o.maxDelay = 200ms;
            o.retryIf = [](const kompoz::Completion<int> &c) {
                return c.outcome != kompoz::Outcome::Rejected;
            };
            m_retry = kompoz::retry(chain, std::move(o));
            m_retry->policy()->setObjectName(name());
        }
    }
    if (m_retry)
        chain = *m_retry;
    if (newRateLimiter) {
        m_rateLimiter.reset();
        if (const int permits = m_rateLimit->value(); permits > 0) {
            m_rateLimiter = kompoz::RateLimiter::create(permits, 1s, qMax(1, permits / 10),
                                                        m_rateQueue->value());
            m_rateLimiter->setObjectName(name());
        }
    }
    if (m_rateLimiter)
        chain = kompoz::rateLimited(chain, m_rateLimiter);
    m_measured = kompoz::withMetrics(chain, m_measured.sharedMetrics());
    m_rateQueue->setEnabled(m_rateLimiter != nullptr);
    m_view->setRetryPolicy(retryPolicy());
    m_view->setRateLimiter(m_rateLimiter.get());
    Q_EMIT pipelineChanged();
}

kompoz::RetryPolicy *ServicePanel::retryPolicy() const
{
    return m_retry ? m_retry->policy() : nullptr;
}

kompoz::RateLimiter *ServicePanel::rateLimiter() const { return m_rateLimiter.get(); }

ServicePanel::BreakerMode ServicePanel::breakerMode() const
{
    return m_breaker.breaker()->options().failureRatio > 0 ? BreakerMode::FailureRatio
                                                           : BreakerMode::ConsecutiveFailures;
}

void ServicePanel::syncFromLibrary()
{
    // Shared objects change under us too (a pool shared with another panel): show their values.
    const std::pair<QSpinBox *, int> values[] = {
            {m_threshold, m_breaker.breaker()->failureThreshold()},
            {m_recovery, int(m_breaker.breaker()->recoveryTimeoutMs())},
            {m_halfOpen, m_breaker.breaker()->halfOpenMaxCalls()},
            {m_timeoutMs, int(m_timeout.policy()->timeoutMs())},
            {m_maxConcurrent, m_limited.pool()->maxConcurrent()},
    };
    for (const auto &[box, value] : values) {
        if (box->value() != value) {
            const QSignalBlocker block(box);
            box->setValue(value);
        }
    }
    // The mode, as the breaker has it (a person, a script or the application may change it).
    const kompoz::CircuitBreaker *b = m_breaker.breaker();
    const double ratio = b->options().failureRatio;
    {
        const QSignalBlocker blockMode(m_mode), blockRatio(m_ratio), blockOff(m_disabled);
        m_mode->setCurrentIndex(int(breakerMode()));
        if (ratio > 0)
            m_ratio->setValue(qRound(ratio * 100));
        m_disabled->setChecked(b->isDisabled());
    }
    m_ratio->setEnabled(ratio > 0);
    m_threshold->setEnabled(ratio <= 0);
    m_isolate->setChecked(b->isIsolated()); // clicked() applies a person's click, not this
}

void ServicePanel::setFailureRate(int percent) { m_failureRate->setValue(percent); }

void ServicePanel::setLatency(int medianMs, int spreadMs)
{
    m_median->setValue(medianMs);
    m_spread->setValue(spreadMs);
}

void ServicePanel::setOutage(bool on) { m_outage->setChecked(on); }

void ServicePanel::setHang(bool on) { m_hang->setChecked(on); }

void ServicePanel::setBreakerSettings(int failureThreshold, int recoveryMs, int halfOpenMaxCalls)
{
    m_threshold->setValue(failureThreshold);
    m_recovery->setValue(recoveryMs);
    m_halfOpen->setValue(halfOpenMaxCalls);
}

void ServicePanel::setTimeoutMs(int ms) { m_timeoutMs->setValue(ms); }

void ServicePanel::setMaxConcurrent(int maxConcurrent) { m_maxConcurrent->setValue(maxConcurrent); }

void ServicePanel::setRetryAttempts(int attempts) { m_retryAttempts->setValue(attempts); }

void ServicePanel::setRateLimit(int permitsPerSecond, int queueLimit)
{
    m_rateQueue->setValue(queueLimit);
    m_rateLimit->setValue(permitsPerSecond);
}

void ServicePanel::setBreakerMode(BreakerMode mode, int ratioPercent)
{
    m_ratio->setValue(ratioPercent);
    m_mode->setCurrentIndex(int(mode));
}

void ServicePanel::setBreakerDisabled(bool disabled) { m_disabled->setChecked(disabled); }

void ServicePanel::setIsolated(bool isolated)
{
    if (m_isolate->isChecked() != isolated)
        m_isolate->click();
}

void ServicePanel::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    const QRectF r = QRectF(rect()).adjusted(0.5, 0.5, -0.5, -0.5);
    p.setPen(QPen(QColor(0x30, 0x36, 0x3d), 1));
    p.setBrush(palette().color(QPalette::Window));
    p.drawRoundedRect(r, 10, 10);
}
