# The job elk registers for the `elasticsearch` entity of
# blueprints/library/sflow-stack.yaml: third-party software runs from its
# image with the docker driver. Usable on its own:
#   nomad job run deploy/nomad/elasticsearch.nomad.hcl
job "sflow-elasticsearch" {
  type        = "service"
  datacenters = ["*"]

  meta {
    "elk.app"    = "sflow"
    "elk.entity" = "elasticsearch"
    "elk.type"   = "elasticsearch"
  }

  group "elasticsearch" {
    count = 1

    scaling {
      enabled = false
      min     = 0
      max     = 1000
    }

    network {
      port "http" {
        static = 9200
      }
    }

    service {
      name     = "sflow-elasticsearch"
      port     = "http"
      provider = "consul"
      tags     = ["app=sflow", "entity=elasticsearch", "type=elasticsearch"]

      check {
        type     = "http"
        path     = "/_cluster/health"
        interval = "10s"
        timeout  = "5s"
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

    task "elasticsearch" {
      driver = "docker"

      config {
        image = "docker.elastic.co/elasticsearch/elasticsearch:8.15.3"
        ports = ["http"]
      }

      env {
        "discovery.type"         = "single-node"
        "xpack.security.enabled" = "false"
        "cluster.name"           = "sflow-elasticsearch"
        "http.port"              = "9200"
        ES_JAVA_OPTS             = "-Xms1g -Xmx1g"
      }

      resources {
        cpu    = 1000
        memory = 2048
      }
    }
  }
}
