// SPDX-License-Identifier: MIT
#include "servicepanel.h"

#include "toggleswitch.h"

#include <kompoz/circuitbreakerview.h>

#include <QCheckBox>
#include <QGridLayout>
#include <QHBoxLayout>
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

kompoz::AsyncCombinator<int> serviceCall(SimulatedService *service, const QString &name)
{
    // No context object: the call only queues a deadline, so any thread may make it.
    return kompoz::asyncRule<int>([service](int) { return service->call(); }, name);
}
} // namespace

ServicePanel::ServicePanel(const ServiceConfig &config, std::shared_ptr<Simulator> simulator,
                           QWidget *parent)
    : QFrame(parent),
      m_service(new SimulatedService(config.name, std::move(simulator), this)),
      m_limited(kompoz::limited(serviceCall(m_service, config.name), config.maxConcurrent,
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

    connect(m_breaker.breaker(), &kompoz::CircuitBreaker::settingsChanged, this,
            &ServicePanel::syncFromLibrary);
    connect(m_limited.pool(), &kompoz::ConcurrencyPool::maxConcurrentChanged, this,
            &ServicePanel::syncFromLibrary);
    connect(m_timeout.policy(), &kompoz::TimeoutPolicy::timeoutChanged, this,
            &ServicePanel::syncFromLibrary);
    syncFromLibrary();
}

ServicePanel::~ServicePanel() = default;

QWidget *ServicePanel::buildControls(const ServiceConfig &config)
{
    auto *controls = new QWidget(this);
    auto *grid = new QGridLayout(controls);
    grid->setContentsMargins(14, 0, 14, 0);
    grid->setHorizontalSpacing(10);
    grid->setVerticalSpacing(6);

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

    // The resilience settings: applied to the live objects at once.
    grid->addWidget(sectionLabel(tr("Resilience"), controls), 0, 4, 1, 2);
    m_threshold = spinBox(controls, QStringLiteral("failureThreshold"), 1, 1000, 1, QString());
    m_recovery = spinBox(controls, QStringLiteral("recoveryTimeout"), 0, 600000, 250, tr(" ms"));
    m_halfOpen = spinBox(controls, QStringLiteral("halfOpenMaxCalls"), 1, 1000, 1, QString());
    m_timeoutMs = spinBox(controls, QStringLiteral("timeout"), 1, 600000, 50, tr(" ms"));
    m_maxConcurrent = spinBox(controls, QStringLiteral("maxConcurrent"), 1, 10000, 1, QString());
    const std::pair<QString, QSpinBox *> rows[] = {
            {tr("Failure threshold"), m_threshold},  {tr("Recovery timeout"), m_recovery},
            {tr("Half-open trials"), m_halfOpen},    {tr("Timeout"), m_timeoutMs},
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

    m_reset = new QPushButton(tr("Reset breaker"), controls);
    m_reset->setObjectName(QStringLiteral("resetBreaker"));
    m_reset->setToolTip(tr("Back to Closed (CircuitBreaker::reset())"));
    grid->addWidget(m_reset, 4, 0, 1, 3, Qt::AlignLeft);
    connect(m_reset, &QPushButton::clicked, m_breaker.breaker(), &kompoz::CircuitBreaker::reset);
    return controls;
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

void ServicePanel::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    const QRectF r = QRectF(rect()).adjusted(0.5, 0.5, -0.5, -0.5);
    p.setPen(QPen(QColor(0x30, 0x36, 0x3d), 1));
    p.setBrush(palette().color(QPalette::Window));
    p.drawRoundedRect(r, 10, 10);
}
