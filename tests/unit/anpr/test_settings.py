import pytest

from anpr.keyring import KeyringError
from anpr.settings import PROJECT_ROOT, Settings
from tests.unit.anpr.test_kafka_security import cluster_env


def test_local_profile_loads_conf_and_resolves_data_dir(monkeypatch):
    monkeypatch.delenv("ANPR_DATA_DIR", raising=False)
    s = Settings()
    assert s.profile == "local"
    assert s.data_dir == (PROJECT_ROOT / "data").resolve()
    assert s.lake_root == str(s.data_dir / "lake")
    assert s.kafka.observations_topic == "anpr.observations"


def test_environment_overrides_nested_keys(monkeypatch, tmp_path):
    monkeypatch.setenv("ANPR_KAFKA__PARTITIONS", "9")
    monkeypatch.setenv("ANPR_DATA_DIR", str(tmp_path))
    s = Settings()
    assert s.kafka.partitions == 9
    assert s.data_dir == tmp_path


def test_cluster_profile_runs_without_a_pepper_until_a_key_is_made(monkeypatch, tmp_path):
    """Least privilege: the vendor and ingest APIs never make keys, so they run without the pepper; what makes
    keys refuses in one line."""
    cluster_env(monkeypatch, tmp_path)
    monkeypatch.delenv("ANPR_PEPPER_FILE")
    s = Settings()
    assert s.pepper is None
    with pytest.raises(KeyringError, match="no pepper configured"):
        s.keyring().active(None)


def test_cluster_profile_takes_the_pepper_as_a_file_only(monkeypatch, tmp_path):
    """Executors read the pepper from a file at one path on every worker: a value is written under the
    driver's data directory only, where the workers of a cluster cannot read it."""
    cluster_env(monkeypatch, tmp_path)
    monkeypatch.delenv("ANPR_PEPPER_FILE")
    monkeypatch.setenv("ANPR_PEPPER", "q" * 48)
    with pytest.raises(ValueError, match="set ANPR_PEPPER_FILE, not ANPR_PEPPER"):
        Settings()


def test_a_pepper_file_is_the_pepper_python_and_the_jvm_both_use(monkeypatch, tmp_path):
    """A review's case (stop 47): with a value and a file, Python keyed with the value and the JVM with the file."""
    (tmp_path / "pepper").write_text("f" * 48)
    monkeypatch.setenv("ANPR_PEPPER_FILE", str(tmp_path / "pepper"))
    monkeypatch.setenv("ANPR_DATA_DIR", str(tmp_path))
    local = Settings()  # beside the local profile's own value
    assert local.pepper_bytes == b"f" * 48 and local.pepper_path() == str(tmp_path / "pepper")
    cluster_env(monkeypatch, tmp_path)
    monkeypatch.setenv("ANPR_PEPPER", "q" * 48)
    with pytest.raises(ValueError, match="set ANPR_PEPPER_FILE, not ANPR_PEPPER"):
        Settings()


def test_cluster_profile_refuses_development_secrets(monkeypatch, tmp_path):
    cluster_env(monkeypatch, tmp_path)
    (tmp_path / "pepper").write_text("dev-pepper-not-for-production-but-long-enough")
    with pytest.raises(ValueError, match="refuses the pepper: it is a development secret"):
        Settings()


def test_cluster_profile_reads_pepper_from_file(monkeypatch, tmp_path):
    secret = tmp_path / "pepper"
    secret.write_text("p" * 48 + "\n")
    monkeypatch.setenv("ANPR_PROFILE", "cluster")
    monkeypatch.delenv("ANPR_PEPPER", raising=False)
    monkeypatch.setenv("ANPR_PEPPER_FILE", str(secret))
    # the cluster profile also needs Kafka over SASL_SSL with a password file per principal
    monkeypatch.setenv("ANPR_KAFKA__SECURITY__CA_FILE", str(tmp_path / "ca.pem"))
    for role in ("PRODUCER", "STREAM", "ADMIN"):
        (tmp_path / role).write_text("k" * 40)
        monkeypatch.setenv(f"ANPR_KAFKA__SECURITY__{role}__PASSWORD_FILE", str(tmp_path / role))
    s = Settings()
    assert s.pepper_bytes == b"p" * 48
    assert s.spark.master.startswith("spark://") and s.lake.root == "s3a://anpr-lake/"
    assert s.kafka.security.protocol == "SASL_SSL" and s.kafka.security.stream.username == "anpr-stream"
    assert s.stream.delta_snapshot_partitions == 48


def test_unknown_keys_are_errors(monkeypatch):
    with pytest.raises(ValueError):
        Settings(kafak={"partitions": 3})


def test_the_stream_reads_committed_records_and_the_ingest_transactional_id_is_per_host_and_port(monkeypatch):
    import socket

    from api.ingest.services import transactional_id

    monkeypatch.setenv("ANPR_PROFILE", "local")
    settings = Settings()
    assert settings.kafka.isolation_level == "read_committed"
    assert transactional_id(settings, 8081) == f"anpr-ingest-{socket.gethostname()}-8081"
    monkeypatch.setenv("ANPR_KAFKA__INGEST_TRANSACTIONAL_ID", "ingest-a")
    monkeypatch.setenv("ANPR_KAFKA__ISOLATION_LEVEL", "read_uncommitted")
    configured = Settings()
    assert transactional_id(configured, 8081) == "ingest-a"
    assert configured.kafka.isolation_level == "read_uncommitted"
    monkeypatch.setenv("ANPR_KAFKA__ISOLATION_LEVEL", "committed")
    with pytest.raises(ValueError, match="isolation_level"):
        Settings()


def test_a_profile_section_adds_to_the_base_section_key_by_key(monkeypatch, tmp_path):
    import anpr.settings as module

    (tmp_path / "base.toml").write_text('[stream]\ntrigger_seconds = 9.0\nmax_lateness_days = 7\n')
    (tmp_path / "local.toml").write_text('[stream]\nmax_lateness_days = 3\n')
    monkeypatch.setattr(module, "CONF_DIR", tmp_path)
    monkeypatch.setenv("ANPR_PROFILE", "local")
    s = Settings()
    assert (s.stream.trigger_seconds, s.stream.max_lateness_days) == (9.0, 3)
