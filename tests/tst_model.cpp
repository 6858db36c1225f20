// SPDX-License-Identifier: MIT
// The library against the reference model (fuzz/model.h, fuzz/harness.h): every input in
// fuzz/corpus/ (the seeds, and whatever the fuzzer found, kept as regressions), then a few
// hundred cases from a fixed random sequence.

#include "harness.h"

#include <QDir>
#include <QFile>
#include <QtTest/QtTest>

#include <random>

class tst_Model : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void corpus_data();
    void corpus();
    void randomCases();
};

void tst_Model::corpus_data()
{
    QTest::addColumn<QByteArray>("input");
    const QDir dir(QStringLiteral(KOMPOZ_FUZZ_CORPUS));
    const QStringList files = dir.entryList(QDir::Files, QDir::Name);
    QVERIFY2(!files.isEmpty(), "the seed corpus is missing");
    for (const QString &name : files) {
        QFile f(dir.filePath(name));
        QVERIFY(f.open(QIODevice::ReadOnly));
        QTest::newRow(qPrintable(name)) << f.readAll();
    }
}

void tst_Model::corpus()
{
    QFETCH(QByteArray, input);
    const std::string diff = kompozfuzz::check(
            reinterpret_cast<const std::uint8_t *>(input.constData()), size_t(input.size()));
    QVERIFY2(diff.empty(), diff.c_str());
}

void tst_Model::randomCases()
{
    std::mt19937 rng(20261203);
    for (int i = 0; i < 300; ++i) {
        std::vector<std::uint8_t> bytes(16 + rng() % 80);
        for (std::uint8_t &b : bytes)
            b = std::uint8_t(rng());
        const std::string diff = kompozfuzz::check(bytes.data(), bytes.size());
        if (!diff.empty()) {
            QByteArray hex = QByteArray(reinterpret_cast<const char *>(bytes.data()),
                                        qsizetype(bytes.size()))
                                     .toHex();
            QFAIL(qPrintable(QString::fromStdString(diff) + QStringLiteral(" for input ") +
                             QString::fromLatin1(hex)));
        }
    }
}

QTEST_GUILESS_MAIN(tst_Model)
#include "tst_model.moc"
