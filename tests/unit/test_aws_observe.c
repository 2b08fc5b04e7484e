/*
 * test_aws_observe: what a run on AWS adds to result.json from the load balancer's and the
 * auto scaling group's view (run/results.c: res_lb_note, res_add_lb): samples per zone, and per
 * fault the ASG's InService count before, its lowest after, and when it was back.
 */
#include "harness.h"
#include "run/results.h"

static void test_asg_dip_and_restore(void)
{
    struct res_lb_sample *v = NULL;
    size_t n = 0, cap = 0;
    /* two zones, 3 + 3 in service; a kill at 10 s takes one of zone a away, back at 70 s */
    res_lb_note(&v, &n, &cap, 0, "a", 3, 3, 3);
    res_lb_note(&v, &n, &cap, 0, "b", 3, 3, 3);
    res_lb_note(&v, &n, &cap, 12000000, "a", 2, 3, 2);
    res_lb_note(&v, &n, &cap, 40000000, "b", 3, 3, 3);
    res_lb_note(&v, &n, &cap, 70000000, "a", 3, 3, 3);
    struct res_fault f[2] = {{.name = (char *)"kill", .inject_us = 10000000},
                             {.name = (char *)"late", .inject_us = 80000000}};
    struct res_doc d = {.faults = f, .nfaults = 2};
    res_add_lb(&d, v, n);
    CHECK_EQ_INT(d.nlb, 5);
    CHECK(f[0].asg_known);
    CHECK_EQ_INT(f[0].asg_before, 6);
    CHECK_EQ_INT(f[0].asg_min, 5);
    CHECK(f[0].asg_restored);
    CHECK_EQ_INT(f[0].asg_restored_us, 60000000);
    CHECK(f[1].asg_known); /* nothing changed after it: never dipped, never "restored" */
    CHECK_EQ_INT(f[1].asg_min, 6);
    CHECK(!f[1].asg_restored);
    char *json = res_to_json(&d);
    CHECK_CONTAINS(json, "\"in_service_before\":\t6");
    CHECK_CONTAINS(json, "\"restored_s\":\t60");
    CHECK_CONTAINS(json, "\"lb_health\":");
    free(json);
    res_lb_free(d.lb, d.nlb);
    res_lb_free(v, n);
}

static void test_no_asg(void)
{
    struct res_lb_sample *v = NULL;
    size_t n = 0, cap = 0;
    res_lb_note(&v, &n, &cap, 0, "a", 2, 2, -1); /* the lab: no auto scaling group */
    struct res_fault f = {.name = (char *)"kill", .inject_us = 1000};
    struct res_doc d = {.faults = &f, .nfaults = 1};
    res_add_lb(&d, v, n);
    CHECK(!f.asg_known);
    CHECK(!d.lb[0].have_in_service);
    char *json = res_to_json(&d);
    CHECK(!strstr(json, "\"asg\""));
    CHECK(!strstr(json, "in_service"));
    free(json);
    res_lb_free(d.lb, d.nlb);
    res_lb_free(v, n);
}

int main(void)
{
    TH_RUN(test_asg_dip_and_restore, test_no_asg);
}
