# The job elk registers for the `collector` entity of
# blueprints/library/sflow-stack.yaml (see sflow-stack.jobs.json for the
# exact JSON, produced by `elk blueprint render`). Usable on its own:
#   nomad job run deploy/nomad/collector.nomad.hcl
# Needs the elk binary at /usr/local/bin/elk on the clients, raw_exec
# enabled, and Consul for the service registration.
job "sflow-collector" {
  type        = "service"
  datacenters = ["*"]

  meta {
    "elk.app"    = "sflow"
    "elk.entity" = "collector"
    "elk.type"   = "sflow-collector"
  }

  group "collector" {
    count = 2

    # elk's policy engine changes the count through the job scale API
    # within these bounds; Nomad's own autoscaler stays out of it.
    scaling {
      enabled = false
      min     = 1
      max     = 8
    }

    network {
      # Every instance binds UDP 6343 with SO_REUSEPORT; the kernel spreads
      # datagrams across them.
      port "sflow" {
        static           = 6343
        ignore_collision = true
      }
      port "metrics" {}
    }

    service {
      name     = "sflow-collector"
      port     = "metrics"
      provider = "consul"
      tags     = ["app=sflow", "entity=collector", "type=sflow-collector"]

      check {
        type     = "http"
        path     = "/healthz"
        interval = "5s"
        timeout  = "2s"
      }
    }

    update {
      max_parallel      = 1
      health_check      = "checks"
      min_healthy_time  = "2s"
      healthy_deadline  = "2m"
      progress_deadline = "3m"
      auto_revert       = false
    }

    restart {
      attempts = 2
      interval = "1m"
      delay    = "2s"
      mode     = "fail"
    }

    task "collector" {
      driver = "raw_exec"

      config {
        command = "/usr/local/bin/elk"
        args = [
          "collector",
          "--listen", "0.0.0.0:${NOMAD_PORT_sflow}",
          "--metrics", "0.0.0.0:${NOMAD_PORT_metrics}",
          "--output", "kafka:sflow-kafka.service.consul:9092/flows",
        ]
      }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
