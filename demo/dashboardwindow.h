// SPDX-License-Identifier: MIT
#pragma once

//! \file dashboardwindow.h
//! The dashboard: simulated services as live cards, a load generator, the event log of state
//! transitions, and scripted runs (scenarios) that check what happened.

#include <kompoz/types.h>

#include <QElapsedTimer>
#include <QMainWindow>

#include <memory>
#include <optional>
#include <vector>

class LoadGenerator;
class QLabel;
class QPushButton;
class QSlider;
class QSpinBox;
class QTreeWidget;
class ServicePanel;
class Simulator;

//! The dark palette the dashboard is made for (Fusion style).
void applyDashboardTheme();

class DashboardWindow : public QMainWindow
{
    Q_OBJECT

public:
    struct Transition
    {
        double atS; //!< seconds since the run started
        QString service;
        kompoz::CircuitState from;
        kompoz::CircuitState to;
    };

    explicit DashboardWindow(QWidget *parent = nullptr);
    ~DashboardWindow() override;

    //! The names play() knows.
    static QStringList scenarios();
    //! Plays `scenario` ("" for none: just the current settings) for `durationS` seconds (<= 0:
    //! the scenario's own), at `rate` requests/s (< 0: the scenario's own), then stops the load,
    //! waits for the calls in flight, checks what happened and emits scenarioFinished().
    //! Returns false for an unknown scenario.
    bool play(const QString &scenario, double durationS = 0, int rate = -1);

    ServicePanel *panel(const QString &name) const;
    QList<ServicePanel *> panels() const;
    LoadGenerator *load() const { return m_load.get(); }
    const std::vector<Transition> &transitions() const { return m_transitions; }
    //! Seconds since the run (or the window) started.
    double elapsedS() const;

    bool asExpected() const { return m_problems.isEmpty(); }
    QStringList problems() const { return m_problems; }
    //! The process's CPU use while the load ran, in % of one core.
    double cpuPercent() const { return m_cpuPercent; }
    //! One screen of text: the run, the transitions with times, the counts, the CPU use.
    QString summary() const;

Q_SIGNALS:
    void scenarioFinished(bool asExpected);
    //! The scripted run reached a step (for the status line and the log).
    void scenarioStep(const QString &what);

private:
    void buildUi();
    void logTransition(const QString &service, kompoz::CircuitState from, kompoz::CircuitState to);
    void logNote(const QString &text);
    void at(double seconds, const QString &what, std::function<void()> step);
    void finishRun();
    void waitForQuiet(int attemptsLeft);
    void evaluate();
    void evaluatePolicies();
    void updateStatus();
    //! Runs that ended, every outcome, over all services (what withMetrics saw).
    qint64 answered() const;
    //! When `service` first went to `to` (from `from`, if given) at or after `afterS`; -1: never.
    double firstTransition(const QString &service, kompoz::CircuitState to, double afterS = 0,
                           std::optional<kompoz::CircuitState> from = std::nullopt) const;

    std::shared_ptr<Simulator> m_simulator;
    QList<ServicePanel *> m_panels;
    std::unique_ptr<LoadGenerator> m_load;
    QSlider *m_rateSlider = nullptr;
    QSpinBox *m_rate = nullptr;
    QPushButton *m_loadSwitch = nullptr;
    QLabel *m_status = nullptr;
    QLabel *m_cpu = nullptr;
    QTreeWidget *m_log = nullptr;

    QElapsedTimer m_clock;
    QString m_scenario;
    double m_durationS = 0;
    bool m_running = false;
    std::vector<Transition> m_transitions;
    QStringList m_problems;
    QStringList m_stepProblems; // found by a step of the script, while it ran
    QStringList m_steps;
    qint64 m_sentAtStart = 0, m_sentAtEnd = 0;
    double m_loadSeconds = 0;
    double m_cpuPercent = 0;
    double m_cpuStartS = 0, m_wallStartS = 0; // for the run's CPU use
    double m_cpuTickS = 0, m_wallTickS = 0; // for the live CPU label
    int m_targetRate = 0;
    double m_outageStartS = 3, m_outageEndS = 8, m_closedByS = 15; // outage and tour
};
