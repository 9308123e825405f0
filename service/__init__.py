"""alb-rollouts controller service: observes the cluster, acts on Ingresses and AWS, serves HTTP."""
